"""The tune file, reports/{target}/tune.json: every configuration tried (its settings, its
replicas, its figures at capacity, or why it has none), the best by the objective, and the
stack's defaults for comparison. This module is its one writer and its one reader (its format:
these dataclasses, harness/record/codec.py); harness/tune/space.py decides what to try.

    {"schema": 4, "target": "cpu", "objective": "capacity", "mode": "grid",
     "axes": {"MAX_BATCH": ["1", "16"]}, "setup": {"backend": "compose", "stack_env": {...}},
     "configs": [{"env": {"MAX_BATCH": "16"}, "models": 2,
     "status": "ok", "reason": null, "capacity_rps": 172.0, "p95_ms": 310.2, "cores": 1.9,
     "rss_mib": 820.0, "gpu_mib": null, "cost_per_million": 0.41,
     "joules_per_inference": null, "report": "tune/MAX_BATCH=16/cpu/2_rate172.html",
     "probes": 5, "seconds": 58.1, "held": true, "short_rps": 181.0}], "best": {...},
     "default": {...}}
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from harness.matrix import Slo
from harness.record.codec import CodecError, from_data, to_data
from harness.record.names import TUNE_FILE
from harness.stack_setup import StackSetup

# 3: without each configuration's `short_rps`; 2: nor its `held` (read as unknown); 1: nor the
# setup.
SCHEMA = 4
OK, FAILED, RULED_OUT = "ok", "failed", "ruled out"
# A constraint of the matrix's tune block, and the figure of a configuration it bounds.
LIMITS = {"max_cores": "cores", "max_rss_mib": "rss_mib", "max_gpu_mib": "gpu_mib"}


@dataclass(frozen=True)
class Config:
    """One configuration tried: the stack's settings and its replicas, and its figures at
    capacity (the highest Poisson rate within the SLO)."""

    env: dict[str, str]
    models: int
    status: str  # ok, failed (with the reason), ruled out (a constraint it breaks)
    reason: str | None = None
    capacity_rps: float | None = None
    p95_ms: float | None = None  # at capacity
    cores: float | None = None  # the stack's CPU at capacity, in cores
    rss_mib: float | None = None  # the stack's resident memory at capacity, every process
    gpu_mib: float | None = None  # its GPU memory, where there is a GPU
    cost_per_million: float | None = None  # inferences at capacity; None without prices
    joules_per_inference: float | None = None  # None where no energy counter could be read
    report: str | None = None  # the capacity probe's report, relative to the reports folder
    probes: int = 0
    seconds: float = 0.0  # the capacity search's time
    # Its capacity held for the matrix's run_time (the search's last look, or probes as long);
    # False: short probes' only, which put it under the best held; None: a fixed probe_time
    # (no last look), or unknown (schema 2).
    held: bool | None = None
    # Where it was held by a last look: the answer its short probes gave before the look.
    short_rps: float | None = None

    @property
    def capacity_per_core(self) -> float | None:
        if self.capacity_rps is None or not self.cores:
            return None
        return self.capacity_rps / self.cores


@dataclass
class TuneFile:
    target: str
    slo: Slo
    objective: str
    mode: str
    axes: dict[str, list[str]]
    configs: list[Config] = field(default_factory=list)
    best: Config | None = None
    default: Config | None = None  # the stack's own settings, where they were among those tried
    tolerance: float = 0.05  # the capacity search's: each capacity is known to within it
    # The backend and the stack's own settings, which each configuration's settings change
    # (files before schema 2: unknown).
    setup: StackSetup = StackSetup()

    def matches(self, other: "TuneFile") -> bool:
        """Whether a tune with `other`'s settings, on `other`'s setup, may resume from this
        file: configurations measured on another backend, or from other settings, are another
        stack's."""
        settings = ("slo", "objective", "mode", "axes", "setup")
        return all(getattr(self, name) == getattr(other, name) for name in settings)


def tune_path(reports: Path, target: str) -> Path:
    return reports / target / TUNE_FILE


def read_tune(path: Path) -> TuneFile | None:
    try:
        return from_data(TuneFile, json.loads(path.read_text()), path.name)
    except (OSError, ValueError, CodecError):
        return None


def write_tune(path: Path, tune: TuneFile) -> None:
    """Whole or not at all, as the capacity file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps({"schema": SCHEMA, **to_data(tune)}, indent=2) + "\n")
    os.replace(partial, path)


# What each objective maximises, from a configuration's figures.
SCORES = {
    "capacity": lambda config: config.capacity_rps,
    "capacity_per_core": lambda config: config.capacity_per_core,
    "cost": lambda config: None if config.cost_per_million is None else -config.cost_per_million,
}


def score(config: Config, objective: str) -> float | None:
    """How good a configuration is by the objective, higher better; None: it has no figure
    (failed, ruled out, or without prices)."""
    return SCORES[objective](config) if config.status == OK else None
