"""A run's record (`S.meta.json`), typed and versioned: the one writer and the one reader of
its fields. A run writes its files under `reports/{target}/` (named by harness.record.names) and
its record last, by rename: a run is complete only once its record exists. Records of older
versions still load: what the name says (target, replicas, users, spawn rate) is read from the
file's place when the record lacks it, and every other field is optional.
"""

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.ceiling import Ceiling
from harness.latency import Latency
from harness.machine import Machine
from harness.matrix import ClosedLoad, Load, OpenLoad
from harness.record.names import (
    STATS_SUFFIX,
    RecordError,
    RunName,
    companion,
    number_label,
)
from harness.stability import Window
from harness.telemetry.stages import Breakdown, StageFigures
from harness.telemetry.summary import GpuUse, MemberUse, ResourceUse

# 1: the first sweeps. 2: exact latencies (latency), request stages (stages), resources,
# the in-process ceiling, Locust's workers (locust_workers); open-loop runs (kind, rate, arrival,
# max_in_flight, schedule); validity (valid, invalid_reasons); repeats (repeat); steady state
# (windows, stable, unstable_reason, measured_s).
SCHEMA = 2
STATUSES = ("ok", "failed")


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
