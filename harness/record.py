"""A run's on-disk format: its file names, and its record (`S.meta.json`), typed and versioned.

This module is the one writer and the one reader of a record's fields. A run writes its files
under `reports/{target}/`, named by its stem (closed loop: `{models}_{users}_{spawn}`), and its
record last, by rename: a run is complete only once its record exists. Records of older
versions still load: what the name says (target, replicas, users, spawn rate) is read from the
file's place when the record lacks it, and every other field is optional.
"""

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ceiling import Ceiling
from harness.latency import Latency
from harness.machine import Machine
from harness.matrix import ClosedLoad, Load, OpenLoad, RunPoint
from harness.stability import Window
from harness.telemetry.stages import Breakdown, StageFigures
from harness.telemetry.summary import GpuUse, MemberUse, ResourceUse

# 1: the first sweeps. 2: exact latencies (latency), request stages (stages), resources,
# the in-process ceiling, Locust's workers (locust_workers); open-loop runs (kind, rate, arrival,
# max_in_flight, schedule); validity (valid, invalid_reasons); repeats (repeat); steady state
# (windows, stable, unstable_reason, measured_s).
SCHEMA = 2
RECORD_SUFFIX = ".meta.json"
# Locust's files, then the run's own log; each named stem + suffix.
LOCUST_SUFFIXES = (
    ".html",
    "_stats.csv",
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
    ".json",
)
LOG_SUFFIX = ".log"
# The load generator's exact latencies (locust/recorder.py) and the resources table.
HDR_SUFFIX = ".hdr"
INTERVALS_SUFFIX = ".intervals.csv"
RESOURCES_SUFFIX = ".resources.csv"
RUN_SUFFIXES = (*LOCUST_SUFFIXES, HDR_SUFFIX, INTERVALS_SUFFIX, RESOURCES_SUFFIX, LOG_SUFFIX)
STATS_SUFFIX = "_stats.csv"
HTML_SUFFIX = ".html"
STATUSES = ("ok", "failed")
STEM_PATTERN = re.compile(
    r"^(?P<models>[^_]+)_(?:rate(?P<rate>[^_]+)|(?P<users>[^_]+)_(?P<spawn>[^_]+))(?:_r(?P<repeat>\d+))?$"
)


class RecordError(ValueError):
    """A record that cannot be read; the message names the file and what is wrong."""


def number_label(value: float) -> str:
    """A number as written in the matrix: 0.5 stays "0.5", 2 and 2.0 become "2"."""
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass(frozen=True)
class RunName:
    """Which run a file belongs to: its target folder and its stem.

    Closed loop: `{models}_{users}_{spawn}`; open loop: `{models}_rate{rate}`; numbers as
    written in the matrix. A repetition after the first adds `_r{n}`.
    """

    target: str
    models: int
    load: Load
    repeat: int = 1

    @classmethod
    def of(cls, point: RunPoint, repeat: int = 1) -> "RunName":
        return cls(point.target, point.models, point.load, repeat)

    @property
    def kind(self) -> str:
        return "open" if isinstance(self.load, OpenLoad) else "closed"

    @property
    def point_stem(self) -> str:
        """The stem of the point, whichever repetition this is."""
        if isinstance(self.load, OpenLoad):
            return f"{self.models}_rate{number_label(self.load.rate)}"
        return f"{self.models}_{self.load.users}_{number_label(self.load.spawn_rate)}"

    @property
    def stem(self) -> str:
        return self.point_stem if self.repeat == 1 else f"{self.point_stem}_r{self.repeat}"

    @property
    def spawn_rate_label(self) -> str:
        return number_label(self.load.spawn_rate) if isinstance(self.load, ClosedLoad) else ""

    def sort_key(self) -> tuple:
        load = self.load
        shape = (
            (0, load.users, load.spawn_rate) if isinstance(load, ClosedLoad) else (1, load.rate, 0)
        )
        return (self.target, self.models, *shape, self.repeat)

    def path(self, reports: Path, suffix: str) -> Path:
        return reports / self.target / f"{self.stem}{suffix}"

    def record_path(self, reports: Path) -> Path:
        return self.path(reports, RECORD_SUFFIX)

    @classmethod
    def parse(cls, record_path: Path) -> "RunName":
        """The name a record file's place says, e.g. `cpu/2_8_4.meta.json`, `cpu/2_rate40_r2...`."""
        stem = record_path.name.removesuffix(RECORD_SUFFIX)
        match = STEM_PATTERN.match(stem)
        if match is None:
            raise RecordError(
                f"{record_path}: name is not {{models}}_{{users}}_{{spawn_rate}}"
                " or {models}_rate{rate} (then _r{repeat})"
            )
        try:
            if match["rate"] is not None:
                load: Load = OpenLoad(float(match["rate"]))
            else:
                load = ClosedLoad(int(match["users"]), float(match["spawn"]))
            repeat = int(match["repeat"] or 1)
            return cls(record_path.parent.name, int(match["models"]), load, repeat)
        except ValueError:
            raise RecordError(
                f"{record_path}: name is not {{models}}_{{users}}_{{spawn_rate}} with numbers"
            ) from None


@dataclass(frozen=True)
class Schedule:
    """An open-loop run's arrivals: how many were due, sent late, or dropped at the cap."""

    scheduled: int
    late: int
    dropped: int
    achieved_rate: float  # arrivals sent per second of the schedule


@dataclass(frozen=True)
class RunRecord:
    name: RunName
    status: str  # "ok" or "failed"
    failure_reason: str | None = None
    exit_code: int | None = None
    run_time: str | None = None
    run_time_s: float | None = None
    ramp_s: float | None = None
    backend: str | None = None
    model: str | None = None
    runtime: str | None = None
    device: str | None = None
    started_at: str | None = None
    ended_at: str | None = None
    locust_cpu_warning: bool = False
    machine: Machine | None = None
    revision: str | None = None
    matrix: dict[str, Any] | None = None  # the matrix as used, shown on the page
    files: tuple[str, ...] = field(default=())  # every file of the run, record excepted
    locust_workers: int | None = None  # Locust's workers beside its master
    latency: Latency | None = None  # exact, from S.hdr; None before schema 2 or without it
    stages: Breakdown | None = None  # None: the stack exposes no request stages
    resources: ResourceUse | None = None
    ceiling: Ceiling | None = None
    # Why the run does not count (harness/run/validity.py); None: recorded before schema 2.
    invalid_reasons: tuple[str, ...] | None = None
    schedule: Schedule | None = None  # open loop: what the load generator sent of its schedule
    windows: tuple[Window, ...] | None = None  # the measured window in equal parts
    unstable_reason: str | None = None  # why the windows disagree (run/stability.py)
    measured_s: float | None = None  # how long the window was, an extension included
    schema: int = SCHEMA

    @property
    def stable(self) -> bool | None:
        """None when the record has no windows (before schema 2)."""
        return None if self.windows is None else self.unstable_reason is None

    @property
    def valid(self) -> bool:
        if self.invalid_reasons is None:
            return not self.locust_cpu_warning
        return not self.invalid_reasons

    def to_json(self) -> str:
        machine = self.machine
        return json.dumps(
            {
                "schema": SCHEMA,
                "target": self.name.target,
                "models": self.name.models,
                "repeat": self.name.repeat,
                **_load_json(self.name.load),
                "run_time": self.run_time,
                "run_time_s": self.run_time_s,
                "ramp_s": self.ramp_s,
                "backend": self.backend,
                "model": self.model,
                "runtime": self.runtime,
                "device": self.device,
                "started_at": self.started_at,
                "ended_at": self.ended_at,
                "status": self.status,
                "failure_reason": self.failure_reason,
                "exit_code": self.exit_code,
                "locust_cpu_warning": self.locust_cpu_warning,
                "machine": None
                if machine is None
                else {
                    "cpu": machine.cpu,
                    "cores": machine.cores,
                    "memory_gib": machine.memory_gib,
                    "gpu": machine.gpu,
                },
                "revision": self.revision,
                "matrix": self.matrix,
                "files": list(self.files),
                "locust_workers": self.locust_workers,
                "latency": _latency_json(self.latency),
                "stages": _stages_json(self.stages),
                "resources": _resources_json(self.resources),
                "ceiling": None if self.ceiling is None else vars(self.ceiling),
                "valid": self.valid,
                "invalid_reasons": None
                if self.invalid_reasons is None
                else list(self.invalid_reasons),
                "schedule": None if self.schedule is None else vars(self.schedule),
                "windows": None
                if self.windows is None
                else [vars(window) for window in self.windows],
                "stable": self.stable,
                "unstable_reason": self.unstable_reason,
                "measured_s": self.measured_s,
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str, record_path: Path, has_statistics: bool) -> "RunRecord":
        """A record as written by any version; `has_statistics` decides an old record's status."""
        try:
            raw = json.loads(text)
        except json.JSONDecodeError as error:
            raise RecordError(
                f"{record_path}: not JSON: {error.msg} at line {error.lineno} column {error.colno}"
            ) from None
        if not isinstance(raw, dict):
            raise RecordError(f"{record_path}: not a JSON object")
        named = RunName.parse(record_path)
        status = raw.get("status") or ("ok" if has_statistics else "failed")
        if status not in STATUSES:
            raise RecordError(f"{record_path}: status: {status!r} is neither 'ok' nor 'failed'")
        failure_reason = _text(raw.get("failure_reason"))
        if status == "failed" and not failure_reason:
            failure_reason = "no reason recorded"
        name = RunName(
            target=str(raw.get("target", named.target)),
            models=_positive_integer(raw.get("models", named.models), "models", record_path),
            load=_load(raw, named.load, record_path),
            repeat=_positive_integer(raw.get("repeat", named.repeat), "repeat", record_path),
        )
        reasons = raw.get("invalid_reasons")
        files = raw.get("files")
        return cls(
            name=name,
            status=status,
            failure_reason=failure_reason,
            exit_code=_integer(raw.get("exit_code")),
            run_time=_text(raw.get("run_time")),
            run_time_s=_number(raw.get("run_time_s")),
            ramp_s=_number(raw.get("ramp_s")),
            backend=_text(raw.get("backend")),
            model=_text(raw.get("model")),
            runtime=_text(raw.get("runtime")),
            device=_text(raw.get("device")),
            started_at=_text(raw.get("started_at")),
            ended_at=_text(raw.get("ended_at")),
            locust_cpu_warning=raw.get("locust_cpu_warning") is True,
            machine=_machine(raw.get("machine")),
            revision=_text(raw.get("revision")),
            matrix=raw.get("matrix") if isinstance(raw.get("matrix"), dict) else None,
            files=tuple(str(name) for name in files) if isinstance(files, list) else (),
            locust_workers=_integer(raw.get("locust_workers")),
            latency=_parsed(_latency, raw.get("latency")),
            stages=_parsed(_stages, raw.get("stages")),
            resources=_parsed(_resources, raw.get("resources")),
            ceiling=_parsed(lambda value: Ceiling(**value), raw.get("ceiling")),
            invalid_reasons=tuple(map(str, reasons)) if isinstance(reasons, list) else None,
            schedule=_parsed(lambda value: Schedule(**value), raw.get("schedule")),
            windows=_windows(raw.get("windows")),
            unstable_reason=_text(raw.get("unstable_reason")),
            measured_s=_number(raw.get("measured_s")),
            schema=_integer(raw.get("schema")) or 0,
        )


def write_record(record: RunRecord, reports: Path, staging: Path) -> Path:
    """Write the record last, by rename from `staging` (same file system): the run is complete."""
    path = record.name.record_path(reports)
    partial = staging / path.name
    partial.write_text(record.to_json() + "\n")
    os.replace(partial, path)
    return path


def companion(record_path: Path, suffix: str) -> Path:
    """Another file of the run whose record is at `record_path`."""
    return record_path.with_name(record_path.name.removesuffix(RECORD_SUFFIX) + suffix)


def read_record(record_path: Path) -> RunRecord:
    stats_path = companion(record_path, STATS_SUFFIX)
    try:
        text = record_path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RecordError(f"{record_path}: cannot be read: {error}") from None
    return RunRecord.from_json(text, record_path, has_statistics=stats_path.is_file())


def is_complete(reports: Path, name: RunName) -> bool:
    """A run whose record says ok and whose every listed file is there (a sweep resumes here)."""
    path = name.record_path(reports)
    try:
        record = read_record(path)
    except (RecordError, FileNotFoundError):
        return False
    return record.status == "ok" and all((path.parent / file).is_file() for file in record.files)


def record_paths(reports: Path) -> list[Path]:
    """Every record under reports/{target}/; hidden folders are scratch space, not targets."""
    return [
        path
        for path in sorted(reports.glob(f"*/*{RECORD_SUFFIX}"))
        if not path.parent.name.startswith(".")
    ]


# Optional fields are shown, not computed with: a value of the wrong type reads as unknown,
# except text, where any value is shown as text.
def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _integer(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _windows(value: Any) -> tuple[Window, ...] | None:
    if not isinstance(value, list):
        return None
    try:
        return tuple(Window(**window) for window in value)
    except TypeError:
        return None


def _load_json(load: Load) -> dict[str, Any]:
    if isinstance(load, OpenLoad):
        return {
            "kind": "open",
            "rate": load.rate,
            "rate_label": number_label(load.rate),
            "arrival": load.arrival,
            "max_in_flight": load.max_in_flight,
        }
    return {
        "kind": "closed",
        "users": load.users,
        "spawn_rate": load.spawn_rate,
        "spawn_rate_label": number_label(load.spawn_rate),
    }


def _load(raw: dict[str, Any], named: Load, record_path: Path) -> Load:
    """The load as recorded, else as the file's name says (records before schema 2)."""
    if isinstance(named, OpenLoad):
        return OpenLoad(
            rate=_positive_number(raw.get("rate", named.rate), "rate", record_path),
            arrival=str(raw.get("arrival", named.arrival)),
            max_in_flight=_integer(raw.get("max_in_flight")) or named.max_in_flight,
        )
    return ClosedLoad(
        users=_positive_integer(raw.get("users", named.users), "users", record_path),
        spawn_rate=_positive_number(
            raw.get("spawn_rate", named.spawn_rate), "spawn_rate", record_path
        ),
    )


def _parsed(read: Any, value: Any) -> Any:
    """A nested figure as written; a missing or malformed one reads as absent."""
    if not isinstance(value, dict):
        return None
    try:
        return read(value)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


def _latency_json(latency: Latency | None) -> dict | None:
    return None if latency is None else vars(latency)


def _latency(value: dict) -> Latency:
    return Latency(**value)


def _stages_json(stages: Breakdown | None) -> dict | None:
    if stages is None:
        return None
    return {
        "stages": {name: vars(figures) for name, figures in stages.stages.items()},
        "batch_size_mean": stages.batch_size_mean,
        "jobs_per_replica": stages.jobs_per_replica,
    }


def _stages(value: dict) -> Breakdown:
    return Breakdown(
        stages={name: StageFigures(**figures) for name, figures in value["stages"].items()},
        batch_size_mean=value["batch_size_mean"],
        jobs_per_replica=dict(value["jobs_per_replica"]),
    )


def _resources_json(resources: ResourceUse | None) -> dict | None:
    if resources is None:
        return None
    return {
        "interval_s": resources.interval_s,
        "members": [vars(member) for member in resources.members],
        "machine_cpu_peak": resources.machine_cpu_peak,
        "machine_cpu_mean": resources.machine_cpu_mean,
        "cores": resources.cores,
        "gpus": [vars(gpu) for gpu in resources.gpus],
    }


def _resources(value: dict) -> ResourceUse:
    return ResourceUse(
        interval_s=value["interval_s"],
        members=tuple(MemberUse(**member) for member in value["members"]),
        machine_cpu_peak=value["machine_cpu_peak"],
        machine_cpu_mean=value["machine_cpu_mean"],
        cores=value["cores"],
        gpus=tuple(GpuUse(**gpu) for gpu in value["gpus"]),
    )


def _machine(value: Any) -> Machine | None:
    if not isinstance(value, dict):
        return None
    return Machine(
        cpu=_text(value.get("cpu")),
        cores=_integer(value.get("cores")),
        memory_gib=_number(value.get("memory_gib")),
        gpu=_text(value.get("gpu")),
    )


def _positive_integer(value: Any, field_name: str, record_path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecordError(f"{record_path}: {field_name}: {value!r} is not a positive integer")
    return value


def _positive_number(value: Any, field_name: str, record_path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RecordError(f"{record_path}: {field_name}: {value!r} is not a positive number")
    return float(value)
