"""One run at one matrix point: warm-up, Locust, the replica watch, the record.

Locust writes into a hidden temporary folder beside the reports; the files are moved into place
when it is done and the record comes last, by rename, so a run is complete only once its record
exists. An interrupted run leaves nothing that looks complete.
"""

import math
import shutil
import tempfile
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.ceiling import Ceiling
from harness.generation import GenerationFigures, read_generation
from harness.generation_files import timing_logs
from harness.latency import IntervalLog, Latency
from harness.machine import Machine, git_revision, machine_description
from harness.matrix import Matrix, RunPoint
from harness.record import RunRecord, write_record
from harness.record.names import LOG_SUFFIX, RUN_SUFFIXES, RunName
from harness.run.floor import floor_for, generator_bound
from harness.run.locust import (
    LOCUST_OVERRUN_S,
    extended,
    locust_cpu_saturated,
    locust_run_time_s,
    outcome,
    ramp_seconds,
    start_ahead,
    start_locust,
    stop_group,
    watch,
)
from harness.run.recorded import log_so_far
from harness.run.validity import invalid_reasons, schedule_of, with_lost
from harness.run.warmup import warm_up
from harness.seconds import PhaseChange, phase_changes, seconds_of
from harness.stability import Window, split, unstable_reason
from harness.stack import ReplicaExit, Stack
from harness.telemetry.observe import Observed, Observer

# Asked while the run lasts, with the run's file prefix: a reason to stop it now, or None.
Enough = Callable[[Path], str | None]


def served_model(ready: dict[str, Any]) -> dict[str, str | None]:
    """Model, runtime and device as the workers report them in /ready (a stack of one's own
    may report none: then they are unknown, not guessed)."""
    reported = ready.get("models")
    first = reported[0] if isinstance(reported, list) and reported else None
    if not isinstance(first, dict):
        return {"model": None, "runtime": None, "device": None}
    return {key: _text(first.get(key)) for key in ("model", "runtime", "device")}


def execute_run(
    matrix: Matrix,
    point: RunPoint,
    stack: Stack,
    reports: Path,
    ready: dict[str, Any],
    ceiling: Ceiling | None = None,
    repeat: int = 1,
    enough: Enough | None = None,
    floor: bool = False,
    warm: bool = False,
) -> RunRecord:
    """Warm up, run Locust at one point with telemetry, and write its files; the record last.
    Whatever the stack answers, the run ends with a record: failed, with its reason, at worst.
    With `floor`, the load generator's own floor at the run's rate is measured first; `warm`:
    the stack served the run before, and is only drained (harness/run/warmup.py)."""
    name = RunName.of(point, repeat)
    name.record_path(reports).parent.mkdir(parents=True, exist_ok=True)
    name.record_path(reports).unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name.stem}.", dir=reports / point.target))
    prefix = scratch / name.stem
    machine = machine_description()
    served = served_model(ready)
    try:
        started_at = _now()
        calibrated = floor_for(matrix, point, machine.cores or 1) if floor else None
        workers = matrix.locust_workers or (calibrated.workers if calibrated else 1)
        failure, exit_code, lost, ended_early = warm_up(matrix, warm), None, [], None
        observed = Observed()
        if failure is None:
            failure, exit_code, lost, ended_early, observed = _measure(
                matrix, point, stack, prefix, machine, enough, workers
            )
        log_path = Path(f"{prefix}{LOG_SUFFIX}")
        log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
        cpu_warning = locust_cpu_saturated(log_text)
        with log_path.open("a") as log:
            if failure is not None:
                log.write(f"\n--- run failed: {failure}\n")
            for gone in lost:
                log.write(f"\n--- log of {gone.name} ({gone.describe()}) ---\n{gone.log}\n")
        latency_log = observed.log
        schedule = schedule_of(point, latency_log)
        windows, windows_end_s = _windows(matrix, point, latency_log)
        latency, stream = _reported(latency_log, windows, windows_end_s, prefix)
        latency = with_lost(latency, schedule) if latency is not None else None
        reasons = invalid_reasons(
            point,
            latency,
            schedule,
            cpu_warning,
            observed.resources,
            workers,
            matrix.min_requests,
        )
        record = RunRecord(
            name=name,
            status="ok" if failure is None else "failed",
            failure_reason=failure,
            exit_code=exit_code,
            run_time=point.run_time,
            run_time_s=point.run_time_s,
            ramp_s=ramp_seconds(point),
            backend=stack.backend,
            **served,
            started_at=started_at,
            ended_at=_now(),
            locust_cpu_warning=cpu_warning,
            machine=machine,
            revision=git_revision(),
            matrix=matrix.recorded,
            files=_publish(scratch, reports, name),
            locust_workers=workers,
            latency=latency,
            stream=stream,
            stages=observed.stages,
            stages_missing=observed.stages_missing,
            resources=observed.resources,
            ceiling=ceiling if ceiling is not None and ceiling.describes(served) else None,
            invalid_reasons=reasons if failure is None else (),
            schedule=schedule,
            windows=tuple(windows) if windows else None,
            unstable_reason=unstable_reason(windows) if windows else None,
            measured_s=latency_log.window_s if latency_log is not None else None,
            ended_early=ended_early,
            energy_j=observed.energy[0] if observed.energy else None,
            energy_source=observed.energy[1] if observed.energy else None,
            phase_changes=_phase_changes(matrix, point, latency_log, observed),
            floor=calibrated,
            generator_bound=generator_bound(calibrated, latency.p99_ms if latency else None),
        )
        write_record(record, reports, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return record


def _measure(
    matrix: Matrix,
    point: RunPoint,
    stack: Stack,
    prefix: Path,
    machine: Machine,
    enough: Enough | None,
    workers: int,
) -> tuple[str | None, int | None, list[ReplicaExit], str | None, Observed]:
    """Locust at one point, watched, with telemetry around it: (failure, exit code, replicas
    lost, why it ended early, what was observed)."""
    extending = matrix.extend_until_stable and not (point.opened or point.shaped)
    locust_point = extended(point, matrix.max_run_time_s) if extending else point
    if extending:
        enough = lambda at: _stable_so_far(matrix, point, at)  # noqa: E731
    observer = Observer(matrix, stack.members(), prefix, machine.cores or 1)
    locust = start_locust(matrix, locust_point, prefix, workers, stack.locust_options(workers))
    try:
        observer.start(locust.pid)
        budget = locust_run_time_s(locust_point) + LOCUST_OVERRUN_S
        watched = watch(locust, stack, budget, enough=(lambda: enough(prefix)) if enough else None)
    finally:
        stop_group(locust)
        observed = observer.finish()
    start_ahead()  # the next run's Locust, importing while this one's files are written
    failure = _with_last_figures(outcome(locust, watched.failure, prefix), watched.lost, observed)
    return failure, locust.returncode, watched.lost, watched.ended_early, observed


def _window_length_s(matrix: Matrix, point: RunPoint) -> float | None:
    """An extended run's windows keep the length the run time gives them; None: not extended."""
    if not matrix.extend_until_stable or point.opened or point.shaped:
        return None
    return point.run_time_s / matrix.windows


def _stable_so_far(matrix: Matrix, point: RunPoint, prefix: Path) -> str | None:
    """Whether the last windows of an extended run, as the recorder has written them so far,
    agree: then the run has measured enough."""
    log = log_so_far(prefix)
    if log is None or log.window_s < point.run_time_s:
        return None
    windows, _ = _windows(matrix, point, log)
    return None if unstable_reason(windows) is not None else "stable: its last windows agree"


def _windows(
    matrix: Matrix, point: RunPoint, log: IntervalLog | None
) -> tuple[list[Window], float]:
    """The run's windows and where the last one ends: the whole measured window split equally,
    or an extended run's last windows of their fixed length; none for a shape, whose load
    changes on purpose (it has no steady state to judge)."""
    if log is None or log.window_s <= 0:
        return [], 0.0
    if point.shaped:
        return [], log.window_s
    length = _window_length_s(matrix, point)
    whole_windows = 0 if length is None else math.floor(log.window_s / length + 1e-6)
    if length is None or whole_windows < matrix.windows:
        return split(log, matrix.windows), log.window_s
    end_s = whole_windows * length
    return split(log, matrix.windows, end_s=end_s, length_s=length), end_s


def _phase_changes(
    matrix: Matrix, point: RunPoint, log: IntervalLog | None, observed: Observed
) -> tuple[PhaseChange, ...] | None:
    """A shape's changes of load and their wake, on the client's outstanding requests and the
    stack's own queue depth where its metrics give one; None for any other run."""
    if not point.shaped or log is None or not point.load.phases:
        return None
    queue_depth = [
        (taken - log.window_start, snapshot.queue_depth)
        for taken, snapshot in observed.readings.snapshots
        if snapshot.queue_depth is not None
    ]
    seconds = seconds_of(log, point.opened)
    return phase_changes(log, seconds, point.load.phases, queue_depth, matrix.slo.p95_ms)


def _reported(
    log: IntervalLog | None, windows: list[Window], end_s: float, prefix: Path
) -> tuple[Latency | None, GenerationFigures | None]:
    """The run's figures, latency and a generative run's, over its windows (an extended run's
    last ones), exact."""
    if log is None:
        return None, None
    start_s, end_s = (windows[0].start_s, end_s) if windows else (0.0, log.window_s)
    return log.span(start_s, end_s), read_generation(timing_logs(prefix), log, start_s, end_s)


def _with_last_figures(
    failure: str | None, lost: list[ReplicaExit], observed: Observed
) -> str | None:
    """A replica that died mid-run: its last memory figures say why more often than its log."""
    figures = []
    for gone in lost:
        seen = observed.last_seen.get(gone.member_label)
        if seen is not None:
            gpu = "" if seen.gpu_mem_mib is None else f", GPU memory {seen.gpu_mem_mib:.0f} MiB"
            figures.append(f"{gone.member_label} last used {seen.rss_mib:.0f} MiB{gpu}")
    if failure is None or not figures:
        return failure
    return f"{failure} ({'; '.join(figures)})"


def _publish(scratch: Path, reports: Path, name: RunName) -> tuple[str, ...]:
    """Move the run's files into place, replacing any earlier attempt's; their names."""
    files = []
    for suffix in RUN_SUFFIXES:
        produced, published = scratch / f"{name.stem}{suffix}", name.path(reports, suffix)
        published.unlink(missing_ok=True)
        if produced.is_file():
            produced.replace(published)
            files.append(published.name)
    return tuple(files)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
