"""matrix.json: what to sweep, typed.

Every entry point reads the matrix through `load_matrix`, so one wrong file gives one message
naming the key and what is allowed, before anything starts; after that the matrix crosses
modules only as the typed values below.
"""

import itertools
import os
import re
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from harness import REPO_ROOT
from harness.machine import gpu_description
from harness.matrix.schema import MatrixError, read_validated

__all__ = [
    "ClosedLoad",
    "Load",
    "OpenLoad",
    "Matrix",
    "MatrixError",
    "RunPoint",
    "Slo",
    "StackSettings",
    "Telemetry",
    "load_matrix",
    "matrix_path",
    "parse_run_time",
]

TIMESPAN_PATTERN = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?$")


def matrix_path() -> Path:
    return Path(os.environ.get("MATRIX") or REPO_ROOT / "matrix.json")


def parse_run_time(text: str) -> int:
    """Seconds in a Locust time span ("20", "30s", "5m", "1h30m"), as Locust itself reads it."""
    if text.isdigit():
        return int(text)
    parts = TIMESPAN_PATTERN.match(text)
    if not text or parts is None:
        raise ValueError(f"{text!r} is not a Locust time span")
    hours, minutes, seconds = (int(parts.group(unit) or 0) for unit in "hms")
    return int(timedelta(hours=hours, minutes=minutes, seconds=seconds).total_seconds())


@dataclass(frozen=True)
class Slo:
    """The service-level objective a run is judged against."""

    p95_ms: float
    max_failure_ratio: float
    gate: bool = False  # `make bench` exits 99 when a valid run breaks it


@dataclass(frozen=True)
class StackSettings:
    """What a stack backend needs to bring the stack up, find it ready and take it down."""

    host: str
    ready_timeout_s: float
    compose_files: dict[str, tuple[str, ...]]
    scale_service: str
    ready_path: str
    ready_replicas_field: str
    metrics_path: str
    procfile: Path
    env: dict[str, str]
    swarm: "SwarmSettings"

    @property
    def ready_url(self) -> str:
        return self.host + self.ready_path

    @property
    def metrics_url(self) -> str:
        return self.host + self.metrics_path


@dataclass(frozen=True)
class SwarmSettings:
    image_registry: str
    locust_master_host: str
    locust_placement: str
    locust_workers: int  # the matrix's, run as a service of the stack
    locustfiles: str  # what the workers load, as paths inside their image (locust/Dockerfile)


@dataclass(frozen=True)
class Telemetry:
    """What is sampled during a run's measured window, and how often."""

    enabled: bool
    interval_s: float


@dataclass(frozen=True)
class ClosedLoad:
    """Locust's own load: `users` clients, each sending its next request once answered."""

    users: int
    spawn_rate: float


@dataclass(frozen=True)
class OpenLoad:
    """Requests arriving at `rate` per second on a schedule (locust/openloop.py), whatever
    happened to the earlier ones; at most `max_in_flight` out at once, the rest dropped."""

    rate: float
    arrival: str = "poisson"  # or "constant"
    max_in_flight: int = 256


Load = ClosedLoad | OpenLoad


@dataclass(frozen=True)
class RunPoint:
    """One Locust run of a sweep: where, at what scale, under what load, for how long."""

    target: str
    models: int
    load: Load
    run_time: str  # the measured window, in Locust's format, as written

    @property
    def run_time_s(self) -> int:
        return parse_run_time(self.run_time)


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
    capacity_tolerance: float
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

    def open_point(self, target: str, models: int, rate: float) -> RunPoint:
        return RunPoint(
            target, models, OpenLoad(rate, self.arrival, self.max_in_flight), self.run_time
        )

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


def locustfiles(data: dict) -> list[Path]:
    """What Locust loads: the recorder first (its counters must exist before the others), the
    open loop when there are arrival rates, then the matrix's locustfile."""
    files = [REPO_ROOT / "locust" / "recorder.py"]
    if data.get("arrival_rate_list"):
        files.append(REPO_ROOT / "locust" / "openloop.py")
    return [*files, REPO_ROOT / data["locustfile"]]


def _in_repository(path: Path) -> str:
    """A path as the Locust image holds it (the repository's layout), when it is in there."""
    return path.relative_to(REPO_ROOT).as_posix() if path.is_relative_to(REPO_ROOT) else str(path)


def load_matrix(path: Path | None = None) -> Matrix:
    """The matrix at `path` (default: MATRIX, else matrix.json), checked and typed."""
    source = path or matrix_path()
    data = _with_api_port(source.name, read_validated(source))
    _check_semantics(source.name, data)
    stack = data["stack"]
    host = data["host"].rstrip("/")
    return Matrix(
        source=source,
        models_list=tuple(data["num_models_list"]),
        users_list=tuple(data.get("num_users_list", ())),
        spawn_rates=tuple(data.get("spawn_rate_list", ())),
        arrival_rates=tuple(data.get("arrival_rate_list", ())),
        arrival=data["arrival"],
        max_in_flight=data["max_in_flight"],
        min_requests=data["min_requests"],
        capacity_tolerance=data["capacity_tolerance"],
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
        locust_workers=data.get("locust_processes", data["locust_workers"]),
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
            procfile=REPO_ROOT / stack["procfile"],
            env=dict(stack["env"]),
            swarm=SwarmSettings(
                **stack["swarm"],
                locust_workers=data.get("locust_processes", data["locust_workers"]),
                locustfiles=",".join(_in_repository(path) for path in locustfiles(data)),
            ),
        ),
        recorded=data,
    )


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
    if not closed and "arrival_rate_list" not in data:
        raise MatrixError(
            name,
            "num_users_list",
            "missing, and no arrival_rate_list either",
            "num_users_list with spawn_rate_list (closed loop),"
            " arrival_rate_list (open loop), or both",
        )
    if parse_run_time(data["run_time"]) == 0:
        raise MatrixError(name, "run_time", f"{data['run_time']!r} is zero", "a positive time span")
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
