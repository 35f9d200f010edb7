"""A run's record (`S.meta.json`), typed and versioned: the one writer and the one reader of
its fields. A run writes its files under `reports/{target}/` (named by harness.record.names) and
its record last, by rename: a run is complete only once its record exists. Records of older
versions still load: what the name says (target, replicas, users, spawn rate) is read from the
file's place when the record lacks it, and every other field is optional.
"""

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from harness.ceiling import Ceiling
from harness.generation import GenerationFigures
from harness.latency import Latency
from harness.machine import Machine
from harness.matrix import ClosedLoad, Load, OpenLoad, ShapedLoad
from harness.record.codec import CodecError, fields_from_data, to_data
from harness.record.names import (
    STATS_SUFFIX,
    RecordError,
    RunName,
    companion,
    number_label,
)
from harness.record.parts import Breakdown, Floor, ResourceUse
from harness.seconds import PhaseChange
from harness.stability import Window
from harness.stack_setup import StackSetup

# 1: the first sweeps. 2: exact latencies (latency), request stages (stages), resources,
# the in-process ceiling, Locust's workers (locust_workers); open-loop runs (kind, rate, arrival,
# max_in_flight, schedule); validity (valid, invalid_reasons); repeats (repeat); steady state
# (windows, stable, unstable_reason, measured_s). 3: failures by kind and arrivals lost
# (latency.failure_kinds, latency.lost), why a run has no stages (stages_missing), each stage's
# words and role (stages.stages.*.said, .role), why it ended early (ended_early), the
# generator's unanswered arrivals (schedule.unanswered), what the ceiling served, energy
# (energy_j, energy_source). 4: shapes (kind shaped, phase_changes), goodput (latency.good), the
# generator's floor (floor, generator_bound), each member's swarm node (resources.members.*.node)
# and each node's CPU (resources.nodes). 5: the instrument's own cost: the harness and the Docker
# engine as members (resources.members, services "harness" and "docker-engine") and the machine's
# CPU no member used (resources.unaccounted_cpu_mean). 6: generative requests (an
# OpenAI-compatible server): TTFT, ITL, TPOT and tokens (stream); from schema 6 on, with no
# new field, latency.good counts the requests that met every goodput threshold of the matrix's
# SLO (end to end, and slo.ttft_ms, slo.itl_ms where given: locust/goodput.py), no longer only
# the end-to-end one. 7: the generator's floor of a streamed run, its own TTFT and ITL
# (floor.ttft_p50_ms, floor.ttft_p99_ms, floor.itl_p50_ms, floor.itl_p99_ms); each rise's drain
# (phase_changes.drain_s, phase_changes.queue_drained_s; null in older records), and back_s
# judged on windows of 200 requests at least (harness/seconds.py); every gap between two
# content chunks of a stream (stream.chunk_gap_ms).
SCHEMA = 7
STATUSES = ("ok", "failed")


@dataclass(frozen=True)
class Schedule:
    """An open-loop run's arrivals: how many were due, sent late, dropped at the cap, and never
    answered before the run ended."""

    scheduled: int
    late: int
    dropped: int
    achieved_rate: float  # arrivals the generator issued (sent or dropped) per second
    unanswered: int = 0
    due: int = 0  # arrivals the schedule had due over the same time (records before 3: 0)


@dataclass(frozen=True)
class RunRecord:
    """A run's record. Its JSON is its fields (harness/record/codec.py), with the name's parts
    (target, models, the load, repeat) at the top level, and `valid` and `stable` written out
    for readers of the file."""

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
    # A generative run's TTFT, ITL, TPOT and tokens over the same window; None: no generative
    # request answered (any other run, and every record before schema 6).
    stream: GenerationFigures | None = None
    stages: Breakdown | None = None  # None: no stage figures (stages_missing says why)
    stages_missing: str | None = None  # why the run has no stage figures
    resources: ResourceUse | None = None
    ceiling: Ceiling | None = None  # only where it describes the stack measured
    # Why the run does not count (harness/run/validity.py); None: recorded before schema 2.
    invalid_reasons: tuple[str, ...] | None = None
    schedule: Schedule | None = None  # open loop: what the load generator sent of its schedule
    windows: tuple[Window, ...] | None = None  # the measured window in equal parts
    unstable_reason: str | None = None  # why the windows disagree (run/stability.py)
    measured_s: float | None = None  # how long the window was, an extension included
    # Why the run stopped before its time without failing (stable already, the SLO clearly
    # broken); None: it ran its time.
    ended_early: str | None = None
    # Energy over the run where a counter could be read (harness/telemetry/energy.py), and what
    # counted it; None: unknown, never zero.
    energy_j: float | None = None
    energy_source: str | None = None
    # A shape's changes of load and their wake (harness/seconds.py); None: not a shape.
    phase_changes: tuple[PhaseChange, ...] | None = None
    # The load generator's own latency at the run's rate (harness/run/floor.py), and whether
    # the run's p99 owes it more than a tenth; None: not measured (a closed loop, a probe).
    floor: Floor | None = None
    generator_bound: bool | None = None
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
        written = {
            item.name: to_data(getattr(self, item.name))
            for item in fields(self)
            if item.name not in ("name", "schema")
        }
        return json.dumps(
            {
                "schema": SCHEMA,
                "target": self.name.target,
                "models": self.name.models,
                "repeat": self.name.repeat,
                **_load_json(self.name.load),
                **written,
                "valid": self.valid,
                "stable": self.stable,
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
        name = RunName(
            target=str(raw.get("target", named.target)),
            models=_positive_integer(raw.get("models", named.models), "models", record_path),
            load=_load(raw, named.load, record_path),
            repeat=_positive_integer(raw.get("repeat", named.repeat), "repeat", record_path),
        )
        # What the name says is read above; the rest by the fields' types (codec.py).
        rest = {key: value for key, value in raw.items() if key not in ("name", "status")}
        try:
            values = fields_from_data(cls, {"schema": 0, **rest}, "")
        except CodecError as error:
            raise RecordError(f"{record_path}: {error}") from None
        if status == "failed" and not values.get("failure_reason"):
            values["failure_reason"] = "no reason recorded"
        return cls(name=name, status=status, **values)


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


def is_complete(reports: Path, name: RunName, setup: StackSetup) -> bool:
    """A run on this stack setup whose record says ok and whose every listed file is there (a
    sweep resumes here; a run of another backend or other settings is measured again)."""
    path = name.record_path(reports)
    try:
        record = read_record(path)
    except (RecordError, FileNotFoundError):
        return False
    return (
        record.status == "ok"
        and StackSetup.recorded(record.backend, record.matrix) == setup
        and all((path.parent / file).is_file() for file in record.files)
    )


def _load_json(load: Load) -> dict[str, Any]:
    if isinstance(load, OpenLoad):
        return {
            "kind": "open",
            "rate": load.rate,
            "rate_label": number_label(load.rate),
            "arrival": load.arrival,
            "max_in_flight": load.max_in_flight,
            "burstiness": load.burstiness,
        }
    if isinstance(load, ShapedLoad):
        return {"kind": "shaped", **to_data(load)}
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
            max_in_flight=_positive_integer(
                raw.get("max_in_flight", named.max_in_flight), "max_in_flight", record_path
            ),
            burstiness=_positive_number(raw.get("burstiness", 1.0), "burstiness", record_path),
        )
    if isinstance(named, ShapedLoad):
        try:
            return ShapedLoad(**fields_from_data(ShapedLoad, {**raw, "shape": named.shape}, ""))
        except CodecError as error:
            raise RecordError(f"{record_path}: {error}") from None
    return ClosedLoad(
        users=_positive_integer(raw.get("users", named.users), "users", record_path),
        spawn_rate=_positive_number(
            raw.get("spawn_rate", named.spawn_rate), "spawn_rate", record_path
        ),
    )


def _positive_integer(value: Any, field_name: str, record_path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise RecordError(f"{record_path}: {field_name}: {value!r} is not a positive integer")
    return value


def _positive_number(value: Any, field_name: str, record_path: Path) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise RecordError(f"{record_path}: {field_name}: {value!r} is not a positive number")
    return float(value)
