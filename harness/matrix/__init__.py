"""matrix.json: what to sweep, typed.

Every entry point reads the matrix through `load_matrix`, so one wrong file gives one message
naming the key and what is allowed, before anything starts; after that the matrix crosses
modules only as the typed values below.
"""

import itertools
import math
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from harness import REPO_ROOT
from harness.machine import gpu_description
from harness.matrix.checks import check_semantics, images_folder, with_api_port
from harness.matrix.loads import (
    ClosedLoad,
    Load,
    OpenLoad,
    RunPoint,
    ShapedLoad,
    parse_run_time,
    shaped_load,
)
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
    "ShapedLoad",
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


def matrix_path() -> Path:
    return Path(os.environ.get("MATRIX") or REPO_ROOT / "matrix.json")


@dataclass(frozen=True)
class Slo:
    """The service-level objective a run is judged against."""

    p95_ms: float
    max_failure_ratio: float
    gate: bool = False  # `make bench` exits 99 when a valid run breaks it
    goodput_ms: float | None = None  # a good request's end-to-end latency at most
    min_goodput: float = 0.99  # the capacity search's goodput criterion
    ttft_ms: float | None = None  # a good request's time to first token at most
    itl_ms: float | None = None  # a good request's inter-token latency at most

    @property
    def good_within_ms(self) -> float | None:
        """The end-to-end threshold of a good request: goodput_ms; without it, p95_ms, unless
        the SLO judges tokens (ttft_ms, itl_ms), as DistServe's goodput does, alone."""
        if self.goodput_ms is not None or self.ttft_ms is not None or self.itl_ms is not None:
            return self.goodput_ms
        return self.p95_ms


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
    criterion: str = "p95"  # or "goodput": what a rate within the SLO keeps


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
    burstiness: float
    max_in_flight: int
    shapes: tuple[ShapedLoad, ...]
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
    locust_workers: int | None  # None: "auto", from the generator's floor (harness/run/floor.py)
    generator_floor: bool
    telemetry: Telemetry
    ceiling: bool
    stack: StackSettings
    # The matrix as used (the file with the schema's defaults), kept in every run's record.
    recorded: dict[str, Any]

    def points(self, target: str, models: int) -> list[RunPoint]:
        """Every run at one scale: users x spawn rate (closed loop), each arrival rate (open
        loop), then each shape, in the matrix's order."""
        closed = [
            RunPoint(target, models, ClosedLoad(users, spawn_rate), self.run_time)
            for users, spawn_rate in itertools.product(self.users_list, self.spawn_rates)
        ]
        opened = [self.open_point(target, models, rate) for rate in self.arrival_rates]
        shaped = [
            RunPoint(target, models, shape, f"{math.ceil(shape.seconds)}s") for shape in self.shapes
        ]
        return closed + opened + shaped

    def open_point(
        self, target: str, models: int, rate: float, run_time: str = "", arrival: str = ""
    ) -> RunPoint:
        load = OpenLoad(rate, arrival or self.arrival, self.max_in_flight, self.burstiness)
        return RunPoint(target, models, load, run_time or self.run_time)

    def with_stack_env(self, env: dict[str, str]) -> "Matrix":
        """This matrix with other stack settings (a tuned configuration), in its record too: a
        run records the settings it ran with."""
        recorded = {**self.recorded, "stack": {**self.recorded["stack"], "env": env}}
        return replace(self, stack=replace(self.stack, env=env), recorded=recorded)

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
    data = with_api_port(source.name, read_validated(source))
    check_semantics(source.name, data)
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
        burstiness=data["burstiness"],
        max_in_flight=data["max_in_flight"],
        shapes=tuple(
            shaped_load(source.name, name, given, data, images_folder(data))
            for name, given in data.get("shapes", {}).items()
        ),
        min_requests=data["min_requests"],
        capacity=CapacitySettings(
            tolerance=capacity["tolerance"],
            probe_time=capacity.get("probe_time", data["run_time"]),
            criterion=capacity["criterion"],
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
        images=images_folder(data),
        locust_workers=None if data["locust_workers"] == "auto" else data["locust_workers"],
        generator_floor=data["generator_floor"],
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
                locust_workers=1 if data["locust_workers"] == "auto" else data["locust_workers"],
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
