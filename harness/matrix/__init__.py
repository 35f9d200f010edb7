"""matrix.json: what to sweep, typed.

Every entry point reads the matrix through `load_matrix`, so one wrong file gives one message
naming the key and what is allowed, before anything starts; after that the matrix crosses
modules only as the typed values below.
"""

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import REPO_ROOT
from harness.machine import gpu_description
from harness.matrix.loads import ClosedLoad, Load, OpenLoad, RunPoint, parse_run_time
from harness.matrix.schema import MatrixError, read_validated
from harness.matrix.stack import (
    StackSettings,
    StageSource,
    SwarmNode,
    SwarmSettings,
    our_stages,
    stage_sources,
)

__all__ = [
    "CapacitySettings",
    "ClosedLoad",
    "Cost",
    "Load",
    "OpenLoad",
    "Matrix",
    "MatrixError",
    "RunPoint",
    "Slo",
    "StackSettings",
    "StageSource",
    "SwarmNode",
    "Telemetry",
    "TuneSettings",
    "load_matrix",
    "matrix_path",
    "parse_run_time",
]

SAMPLE_IMAGES = REPO_ROOT / "locust" / "images"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")


def matrix_path() -> Path:
    return Path(os.environ.get("MATRIX") or REPO_ROOT / "matrix.json")


@dataclass(frozen=True)
class Slo:
    """The service-level objective a run is judged against."""

    p95_ms: float
    max_failure_ratio: float
    gate: bool = False  # `make bench` exits 99 when a valid run breaks it


@dataclass(frozen=True)
class Telemetry:
    """What is sampled during a run's measured window, and how often."""

    enabled: bool
    interval_s: float


@dataclass(frozen=True)
class CapacitySettings:
    """The capacity search: how close its bracket must get, and how long each probe runs."""

    tolerance: float
    probe_time: str  # in Locust's format


@dataclass(frozen=True)
class TuneSettings:
    """Which settings of the stack a tune tries, how, and what makes one configuration best."""

    axes: dict[str, tuple[str, ...]]  # a variable of the stack's environment -> its values
    mode: str  # grid or adaptive
    max_trials: int | None
    patience: int | None
    constraints: dict[str, float]  # max_cores, max_rss_mib, max_gpu_mib
    objective: str  # capacity, capacity_per_core or cost


@dataclass(frozen=True)
class Cost:
    replica_hour: float
    base_hour: float
    currency: str

    def per_million(self, replicas: int, rps: float) -> float:
        """What a million inferences cost at `rps`, with `replicas` replicas."""
        return (self.replica_hour * replicas + self.base_hour) / (rps * 3600) * 1e6


@dataclass(frozen=True)
class Matrix:
    source: Path
    models_list: tuple[int, ...]
    users_list: tuple[int, ...]
    spawn_rates: tuple[float, ...]
    arrival_rates: tuple[float, ...]
    arrival: str
    max_in_flight: int
    min_requests: int
    capacity: CapacitySettings
    tune: TuneSettings | None
    cost: Cost | None
    regression_threshold: float
    run_time: str
    windows: int
    extend_until_stable: bool
    max_run_time_s: int
    repeats: int
    host: str
    targets: tuple[str, ...]
    backend: str
    warmup_requests: int
    slo: Slo
    locustfile: Path
    request: dict[str, Any]  # the built-in locustfile's request (locust/payloads.py reads it)
    images: Path  # the folder of images the requests carry
    locust_workers: int
    telemetry: Telemetry
    ceiling: bool
    stack: StackSettings
    # The matrix as used (the file with the schema's defaults), kept in every run's record.
    recorded: dict[str, Any]

    def points(self, target: str, models: int) -> list[RunPoint]:
        """Every run at one scale: users x spawn rate (closed loop), then each arrival rate
        (open loop), in the matrix's order."""
        closed = [
            RunPoint(target, models, ClosedLoad(users, spawn_rate), self.run_time)
            for users, spawn_rate in itertools.product(self.users_list, self.spawn_rates)
        ]
        return closed + [self.open_point(target, models, rate) for rate in self.arrival_rates]

    def open_point(
        self, target: str, models: int, rate: float, run_time: str = "", arrival: str = ""
    ) -> RunPoint:
        load = OpenLoad(rate, arrival or self.arrival, self.max_in_flight)
        return RunPoint(target, models, load, run_time or self.run_time)

    def check_target(self, target: str | None) -> str:
        """The target to run (the first listed when None); a GPU target needs a GPU here."""
        chosen = target or self.targets[0]
        if chosen not in self.targets:
            raise MatrixError(
                self.source.name, "targets", f"{chosen!r} is not listed", ", ".join(self.targets)
            )
        if chosen == "gpu" and gpu_description() is None:
            raise MatrixError(
                self.source.name,
                "targets",
                "'gpu' asked for but `nvidia-smi -L` shows no GPU on this machine",
                "cpu",
            )
        return chosen


def load_matrix(path: Path | None = None) -> Matrix:
    """The matrix at `path` (default: MATRIX, else matrix.json), checked and typed."""
    source = path or matrix_path()
    data = _with_api_port(source.name, read_validated(source))
    _check_semantics(source.name, data)
    stack = data["stack"]
    host = data["host"].rstrip("/")
    capacity = data["capacity"]
    return Matrix(
        source=source,
        models_list=tuple(data["num_models_list"]),
        users_list=tuple(data.get("num_users_list", ())),
        spawn_rates=tuple(data.get("spawn_rate_list", ())),
        arrival_rates=tuple(data.get("arrival_rate_list", ())),
        arrival=data["arrival"],
        max_in_flight=data["max_in_flight"],
        min_requests=data["min_requests"],
        capacity=CapacitySettings(
            tolerance=capacity["tolerance"],
            probe_time=capacity.get("probe_time", data["run_time"]),
        ),
        tune=_tune(data.get("tune")),
        cost=Cost(**data["cost"]) if "cost" in data else None,
        regression_threshold=data["regression_threshold"],
        run_time=data["run_time"],
        windows=data["windows"],
        extend_until_stable=data["extend_until_stable"],
        max_run_time_s=parse_run_time(data["max_run_time"])
        if "max_run_time" in data
        else 4 * parse_run_time(data["run_time"]),
        repeats=data["repeats"],
        host=host,
        targets=tuple(data["targets"]),
        backend=data["backend"],
        warmup_requests=data["warmup_requests"],
        slo=Slo(**data["slo"]),
        locustfile=REPO_ROOT / data["locustfile"],
        request=data["request"],
        images=_images(data),
        locust_workers=data["locust_workers"],
        telemetry=Telemetry(**data["telemetry"]),
        ceiling=data["ceiling"],
        stack=StackSettings(
            host=host,
            ready_timeout_s=data["ready_timeout_s"],
            compose_files={
                target: tuple(files) for target, files in stack["compose_files"].items()
            },
            scale_service=stack["scale_service"],
            ready_path=stack["ready_path"],
            ready_replicas_field=stack["ready_replicas_field"],
            metrics_path=stack["metrics_path"],
            stages=stage_sources(stack.get("stages") or our_stages()),
            jobs_metric=stack["jobs_metric"],
            batch_size_metric=stack["batch_size_metric"],
            queue_depth_metric=stack["queue_depth_metric"],
            procfile=REPO_ROOT / stack["procfile"],
            env=dict(stack["env"]),
            swarm=SwarmSettings(
                image_registry=stack["swarm"]["image_registry"],
                locust_master_host=stack["swarm"]["locust_master_host"],
                locust_placement=stack["swarm"]["locust_placement"],
                locust_workers=data["locust_workers"],
                locustfile=REPO_ROOT / data["locustfile"],
                nodes=tuple(SwarmNode(**node) for node in stack["swarm"]["nodes"]),
            ),
        ),
        recorded=data,
    )


def _tune(tune: dict | None) -> TuneSettings | None:
    if tune is None:
        return None
    return TuneSettings(
        axes={
            name: tuple(_text(value) for value in values) for name, values in tune["env"].items()
        },
        mode=tune["mode"],
        max_trials=tune.get("max_trials"),
        patience=tune.get("patience"),
        constraints=dict(tune["constraints"]),
        objective=tune["objective"],
    )


def _text(value: str | float) -> str:
    """A setting as the environment holds it: 4 and 4.0 both "4", 0.5 "0.5"."""
    if isinstance(value, str):
        return value
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def _images(data: dict) -> Path:
    folder = data["request"].get("images")
    return SAMPLE_IMAGES if folder is None else REPO_ROOT / folder


def _with_api_port(name: str, data: dict) -> dict:
    """API_PORT in the environment moves the API of `host` to that port (README: inv up)."""
    port = os.environ.get("API_PORT", "").strip()
    if not port:
        return data
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MatrixError(name, "host", f"API_PORT={port!r} is not a port", "1 to 65535")
    parsed = urlsplit(data["host"])
    moved = parsed._replace(netloc=f"{parsed.hostname}:{int(port)}")
    return {**data, "host": urlunsplit(moved)}


def _check_semantics(name: str, data: dict) -> None:
    closed = [key for key in ("num_users_list", "spawn_rate_list") if key in data]
    if len(closed) == 1:
        other = ({"num_users_list", "spawn_rate_list"} - set(closed)).pop()
        raise MatrixError(
            name, other, f"missing beside {closed[0]}", "both, for closed-loop runs, or neither"
        )
    for key in ("run_time", "capacity.probe_time"):
        text = data["run_time"] if key == "run_time" else data["capacity"].get("probe_time")
        if text is not None and parse_run_time(text) == 0:
            raise MatrixError(name, key, f"{text!r} is zero", "a positive time span")
    if "max_run_time" in data and parse_run_time(data["max_run_time"]) < parse_run_time(
        data["run_time"]
    ):
        raise MatrixError(
            name,
            "max_run_time",
            f"{data['max_run_time']!r} is shorter than run_time",
            "at least run_time",
        )
    locustfile = REPO_ROOT / data["locustfile"]
    if not locustfile.is_file():
        raise MatrixError(
            name, "locustfile", f"{locustfile} does not exist", "a file in the repository"
        )
    images = _images(data)
    if not images.is_dir() or not any(
        path.suffix.lower() in IMAGE_SUFFIXES for path in images.iterdir()
    ):
        raise MatrixError(
            name,
            "request.images",
            f"{images} holds no image",
            f"a folder of {', '.join(IMAGE_SUFFIXES)} files, relative to the repository root",
        )
    if data.get("tune", {}).get("objective") == "cost" and "cost" not in data:
        raise MatrixError(
            name, "cost", "missing, and tune.objective is cost", "a cost block with replica_hour"
        )
    node_names = [node["name"] for node in data["stack"]["swarm"]["nodes"]]
    for index, node_name in enumerate(node_names):
        if node_name in node_names[:index]:
            raise MatrixError(
                name,
                f"stack.swarm.nodes[{index}].name",
                f"{node_name!r} is repeated",
                "each name once",
            )
    for stage, source in (data["stack"].get("stages") or {}).items():
        kinds = [key for key in ("metric", "sum") if key in source]
        if len(kinds) != 1 or ("sum" in source) != ("count" in source):
            raise MatrixError(
                name,
                f"stack.stages.{stage}",
                "names no metric to read",
                "either metric (a histogram or summary) or sum and count (two counters)",
            )
