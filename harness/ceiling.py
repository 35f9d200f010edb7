"""The ceiling of a sweep: one worker's model alone, in-process (services.model.ceiling), measured
before the stack comes up and cached per model, runtime, device, threads, batch and machine, so
each run can say how much of N replicas × that figure it delivered."""

import hashlib
import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness import REPO_ROOT
from harness.machine import machine_description

CACHE_DIR = REPO_ROOT / ".cache" / "ceiling"
MEASURE_S = 3.0
TIMEOUT_S = 600
# What decides the figure: the services' settings of these names, and the machine.
# MODEL_NAME=onnx names its file by path: another file at the same path keeps the figure measured
# for the first one until .cache/ceiling/ is emptied.
SETTINGS = (
    "MODEL_NAME",
    "MODEL_WEIGHTS",
    "MODEL_PATH",
    "MODEL_INPUT_SIZE",
    "MODEL_RESIZE",
    "MODEL_MEAN",
    "MODEL_STD",
    "MODEL_LABELS",
    "RUNTIME",
    "DEVICE",
    "NUM_THREADS",
    "MAX_BATCH",
)


@dataclass(frozen=True)
class Ceiling:
    images_per_s: float  # one worker, decode + preprocess + inference at its best batch size
    batch_size: int
    key: str  # what it was measured for, as text
    # What it served, as the workers report it on /ready (records before schema 3: unknown).
    model: str | None = None
    runtime: str | None = None
    device: str | None = None

    def describes(self, served: dict[str, str | None]) -> bool:
        """Whether the figure is of the model the stack serves (its /ready says which): a stack
        of one's own, or another model, makes it meaningless."""
        mine = {"model": self.model, "runtime": self.runtime, "device": self.device}
        return self.model is not None and all(
            served.get(key) == value for key, value in mine.items()
        )


# Part of the key: a figure measured by an earlier rule (MAX_BATCH only, or without saying what
# it served) is not reused.
RULE = "best of batch 1 and MAX_BATCH, with what it served"


def _key(env: dict[str, str]) -> str:
    machine = machine_description()
    described = {"rule": RULE, **{name: env.get(name, "") for name in SETTINGS}}
    described["machine"] = f"{machine.cpu}, {machine.cores} cores, GPU {machine.gpu}"
    return ", ".join(f"{name}={value}" for name, value in described.items() if value)


def _cache_file(key: str) -> Path:
    return CACHE_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"


def cached_ceiling(env: dict[str, str]) -> Ceiling | None:
    """The figure measured earlier for these settings on this machine, if any."""
    cached = _cache_file(_key(env))
    return Ceiling(**json.loads(cached.read_text())) if cached.is_file() else None


def measure_ceiling(env: dict[str, str]) -> Ceiling | None:
    """The cached figure for these services' settings on this machine, measured when missing
    (with nothing else running); None, with the reason printed, when the model cannot run here
    in-process."""
    found = cached_ceiling(env)
    if found is not None:
        return found
    key = _key(env)
    print(f"ceiling: measuring one worker in-process ({key}) ...", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "services.model.ceiling", "--seconds", str(MEASURE_S)],
        env={**os.environ, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        print(f"ceiling: not measured: {done.stderr.strip()[-300:]}", flush=True)
        return None
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    ceiling = Ceiling(
        figures["images_per_s"],
        figures["batch_size"],
        key,
        figures["model"],
        figures["runtime"],
        figures["device"],
    )
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    _cache_file(key).write_text(json.dumps(vars(ceiling)))
    print(f"ceiling: {ceiling.images_per_s:.1f} images/s per worker", flush=True)
    return ceiling
