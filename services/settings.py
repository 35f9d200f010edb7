"""THE list of environment variables the services read, with their defaults and checks.

Every service reads its configuration here and nowhere else, so docs/stack.md's table, the
Dockerfiles, the compose files and the Procfile all agree on one set of names.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

MODEL_NAMES = ("efficientnet-lite0", "resnet50", "onnx")
RUNTIMES = ("onnxruntime", "torch")
DEVICES = ("cpu", "cuda")
# MODEL_NAME=onnx serves the user's own ONNX classifier (docs/your-model.md); these variables
# describe it and are read for it only.
ONNX_VARIABLES = (
    "MODEL_PATH",
    "MODEL_INPUT_SIZE",
    "MODEL_RESIZE",
    "MODEL_MEAN",
    "MODEL_STD",
    "MODEL_LABELS",
)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class SettingsError(ValueError):
    """An environment variable holds a value the services cannot use; the message names it."""


@dataclass(frozen=True)
class OnnxModel:
    """MODEL_NAME=onnx: the user's classifier file, and what the file itself cannot say."""

    path: Path  # MODEL_PATH
    # MODEL_INPUT_SIZE: the side of the input where the model's own is dynamic (224 when unset)
    input_size: int | None
    resize: int | None  # MODEL_RESIZE: the short side before the centre crop (input / 0.875)
    mean: tuple[float, float, float]  # MODEL_MEAN, in 0-1 pixel units (torchvision's)
    std: tuple[float, float, float]  # MODEL_STD, likewise
    labels: Path | None  # MODEL_LABELS: one label per line


@dataclass(frozen=True)
class Settings:
    redis_url: str
    api_workers: int
    expected_workers: int
    max_upload_bytes: int
    max_image_pixels: int
    request_timeout_s: float
    queue_max_len: int
    model_name: str
    model_weights: Path | None
    onnx_model: OnnxModel | None  # with MODEL_NAME=onnx only
    runtime: str
    device: str
    num_threads: int
    max_batch: int
    max_wait_ms: float | None  # None: the worker chooses from measurements (docs/stack.md)
    model_cache_dir: Path
    heartbeat_ttl_s: float
    stall_timeout_s: float
    gpu_mem_limit_mib: int | None
    worker_id: str
    worker_id_file: Path | None


def _integer(environ: Mapping[str, str], name: str, default: int, minimum: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be >= {minimum}, got {value}")
    return value


def _number(environ: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if not value >= minimum or value == float("inf"):
        raise SettingsError(f"{name} must be a finite number >= {minimum}, got {raw}")
    return value


def _optional_number(environ: Mapping[str, str], name: str, minimum: float) -> float | None:
    if not environ.get(name, "").strip():
        return None
    return _number(environ, name, 0.0, minimum)


def _optional_integer(environ: Mapping[str, str], name: str, minimum: int) -> int | None:
    if not environ.get(name, "").strip():
        return None
    return _integer(environ, name, 0, minimum)


def _choice(environ: Mapping[str, str], name: str, choices: tuple[str, ...]) -> str:
    value = environ.get(name, "").strip() or choices[0]
    if value not in choices:
        raise SettingsError(f"{name} must be one of {', '.join(choices)}; got {value!r}")
    return value


def _weights_path(environ: Mapping[str, str]) -> Path | None:
    raw = environ.get("MODEL_WEIGHTS", "").strip()
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"MODEL_WEIGHTS must name a readable file; {raw!r} is not one")
    return path


def _optional_path(environ: Mapping[str, str], name: str) -> Path | None:
    raw = environ.get(name, "").strip()
    return Path(raw).expanduser() if raw else None


def _readable_file(environ: Mapping[str, str], name: str, what: str) -> Path | None:
    path = _optional_path(environ, name)
    if path is not None and not (path.is_file() and os.access(path, os.R_OK)):
        raise SettingsError(f"{name} must name a readable {what}; {str(path)!r} is not one")
    return path


def _triple(
    environ: Mapping[str, str], name: str, default: tuple[float, float, float], positive: bool
) -> tuple[float, float, float]:
    """Three comma-separated numbers in 0-1 pixel units, one per channel (R, G, B)."""
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        values = tuple(float(part) for part in raw.split(","))
    except ValueError:
        values = ()
    lowest = "above 0" if positive else "from 0"
    if len(values) != 3 or not all(
        (0 < value if positive else 0 <= value) and value <= 1 for value in values
    ):
        raise SettingsError(
            f"{name} must be three comma-separated numbers {lowest} to 1 (0-1 pixel units, as "
            f"torchvision writes them: R,G,B), got {raw!r}"
        )
    return values[0], values[1], values[2]


def _onnx_model(environ: Mapping[str, str], model_name: str) -> OnnxModel | None:
    if model_name != "onnx":
        for name in ONNX_VARIABLES:
            if environ.get(name, "").strip():
                raise SettingsError(f"{name} is only read for MODEL_NAME=onnx, not {model_name}")
        return None
    path = _readable_file(environ, "MODEL_PATH", "ONNX file")
    if path is None:
        raise SettingsError("MODEL_NAME=onnx needs MODEL_PATH: the .onnx file to serve")
    if _choice(environ, "RUNTIME", RUNTIMES) != "onnxruntime":
        raise SettingsError(
            "RUNTIME=torch cannot serve MODEL_NAME=onnx: an ONNX file runs on onnxruntime "
            "(unset RUNTIME, or set it to onnxruntime)"
        )
    return OnnxModel(
        path=path,
        input_size=_optional_integer(environ, "MODEL_INPUT_SIZE", minimum=1),
        resize=_optional_integer(environ, "MODEL_RESIZE", minimum=1),
        mean=_triple(environ, "MODEL_MEAN", IMAGENET_MEAN, positive=False),
        std=_triple(environ, "MODEL_STD", IMAGENET_STD, positive=True),
        labels=_readable_file(environ, "MODEL_LABELS", "text file"),
    )


def default_worker_id() -> str:
    """`<hostname>-<pid>-<random>`: replicas on the host network share the hostname, and each
    container's worker may be pid 1, so only the random part keeps every replica's id apart."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Read and check every variable; raise SettingsError naming the first bad one."""
    environ = os.environ if environ is None else environ
    model_name = _choice(environ, "MODEL_NAME", MODEL_NAMES)
    weights = _weights_path(environ)
    if weights is not None and model_name != "resnet50":
        raise SettingsError(
            f"MODEL_WEIGHTS is only read for MODEL_NAME=resnet50 ({model_name} ships its weights)"
        )
    onnx_model = _onnx_model(environ, model_name)
    redis_url = environ.get("REDIS_URL", "").strip() or "redis://127.0.0.1:6379/0"
    if not redis_url.startswith(("redis://", "rediss://", "unix://")):
        raise SettingsError(
            f"REDIS_URL must start with redis://, rediss:// or unix://; got {redis_url!r}"
        )
    cache_dir = environ.get("MODEL_CACHE_DIR", "").strip() or "~/.cache/inference-loadbench"
    return Settings(
        redis_url=redis_url,
        api_workers=_integer(environ, "API_WORKERS", 1, minimum=1),
        expected_workers=_integer(environ, "EXPECTED_WORKERS", 1, minimum=0),
        max_upload_bytes=_integer(environ, "MAX_UPLOAD_BYTES", 10 * 1024 * 1024, minimum=1),
        max_image_pixels=_integer(environ, "MAX_IMAGE_PIXELS", 50_000_000, minimum=1),
        request_timeout_s=_number(environ, "REQUEST_TIMEOUT_S", 30.0, minimum=0.01),
        queue_max_len=_integer(environ, "QUEUE_MAX_LEN", 1000, minimum=1),
        model_name=model_name,
        model_weights=weights,
        onnx_model=onnx_model,
        runtime=_choice(environ, "RUNTIME", RUNTIMES),
        device=_choice(environ, "DEVICE", DEVICES),
        num_threads=_integer(environ, "NUM_THREADS", 1, minimum=1),
        max_batch=_integer(environ, "MAX_BATCH", 16, minimum=1),
        max_wait_ms=_optional_number(environ, "MAX_WAIT_MS", minimum=0.0),
        model_cache_dir=Path(cache_dir).expanduser(),
        heartbeat_ttl_s=_number(environ, "HEARTBEAT_TTL_S", 5.0, minimum=1.0),
        stall_timeout_s=_number(environ, "STALL_TIMEOUT_S", 10.0, minimum=0.5),
        gpu_mem_limit_mib=_optional_integer(environ, "GPU_MEM_LIMIT_MIB", minimum=1),
        worker_id=environ.get("WORKER_ID", "").strip() or default_worker_id(),
        worker_id_file=_optional_path(environ, "WORKER_ID_FILE"),
    )
