"""One run at one matrix point: warm-up, Locust, the replica watch, the record.

Locust writes into a hidden temporary folder beside the reports; the files are moved into place
when it is done and the record comes last, by rename, so a run is complete only once its record
exists. An interrupted run leaves nothing that looks complete.
"""

import math
import random
import shutil
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from harness import REPO_ROOT
from harness.ceiling import Ceiling
from harness.latency import IntervalLog, Latency, LatencyFileError, read_interval_log
from harness.machine import Machine, git_revision, machine_description
from harness.matrix import Matrix, OpenLoad, RunPoint
from harness.record import RunRecord, write_record
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX, LOG_SUFFIX, RUN_SUFFIXES, RunName
from harness.run.locust import (
    LOCUST_OVERRUN_S,
    extended,
    locust_cpu_saturated,
    locust_run_time_s,
    outcome,
    ramp_seconds,
    start_locust,
    stop_group,
    watch,
)
from harness.run.validity import invalid_reasons, schedule_of
from harness.stability import Window, split, unstable_reason
from harness.stack import ReplicaExit, Stack
from harness.telemetry.observe import Observed, Observer

WARMUP_TIMEOUT_S = 30
SAMPLE_IMAGES_DIR = REPO_ROOT / "locust" / "images"


@dataclass
class RunOutcome:
    point: RunPoint
    status: str
    failure_reason: str | None
    invalid_reasons: tuple[str, ...]  # why an ok run does not count
    lost_replicas: list[ReplicaExit]


def warm_up(matrix: Matrix) -> str | None:
    """Send the matrix's uncounted warm-up requests; the reason when none succeeded."""
    if matrix.warmup_requests == 0:
        return None
    images = [(path.name, path.read_bytes()) for path in sorted(SAMPLE_IMAGES_DIR.glob("*.jpg"))]
    last_problem = "no request sent"
    answered = 0
    for _ in range(matrix.warmup_requests):
        name, data = random.choice(images)
        try:
            answer = requests.post(
                matrix.host + "/predict",
                files={"file": (name, data, "image/jpeg")},
                timeout=WARMUP_TIMEOUT_S,
            )
        except requests.RequestException as error:
            last_problem = f"{type(error).__name__}: {error}"
            continue
        if answer.status_code == 200:
            answered += 1
        else:
            last_problem = f"HTTP {answer.status_code}: {answer.text[:200]}"
    if answered:
        return None
    return f"warm-up: none of {matrix.warmup_requests} requests succeeded; last: {last_problem}"


def served_model(ready: dict[str, Any]) -> dict[str, str | None]:
    """Model, runtime and device as the workers report them in /ready (a stack of one's own
    may report none: then they are unknown, not guessed)."""
    reported = ready.get("models")
    first = reported[0] if isinstance(reported, list) and reported else None
    if not isinstance(first, dict):
        return {"model": None, "runtime": None, "device": None}
    return {key: str(first.get(key)) for key in ("model", "runtime", "device")}


def execute_run(
    matrix: Matrix,
    point: RunPoint,
    stack: Stack,
    reports: Path,
    ready: dict[str, Any],
    ceiling: Ceiling | None = None,
    repeat: int = 1,
) -> RunOutcome:
    """Warm up, run Locust at one point with telemetry, and write its files; the record last."""
    name = RunName.of(point, repeat)
    name.record_path(reports).parent.mkdir(parents=True, exist_ok=True)
    name.record_path(reports).unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name.stem}.", dir=reports / point.target))
    prefix = scratch / name.stem
    machine = machine_description()
    try:
        started_at = _now()
        failure, exit_code, lost = warm_up(matrix), None, []
        observed = Observed()
        if failure is None:
            failure, exit_code, lost, observed = _measure(matrix, point, stack, prefix, machine)
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
        reasons = invalid_reasons(
            point,
            latency_log,
            schedule,
            cpu_warning,
            observed.resources,
            matrix.locust_workers,
            matrix.min_requests,
        )
        windows, windows_end_s = _windows(matrix, point, latency_log)
        record = RunRecord(
            name=name,
            status="ok" if failure is None else "failed",
            failure_reason=failure,
            exit_code=exit_code,
            run_time=point.run_time,
            run_time_s=point.run_time_s,
            ramp_s=ramp_seconds(point),
            backend=stack.backend,
            **served_model(ready),
            started_at=started_at,
            ended_at=_now(),
            locust_cpu_warning=cpu_warning,
            machine=machine,
            revision=git_revision(),
            matrix=matrix.recorded,
            files=_publish(scratch, reports, name),
            locust_workers=matrix.locust_workers,
            latency=_reported(latency_log, windows, windows_end_s),
            stages=observed.stages,
            resources=observed.resources,
            ceiling=ceiling,
            invalid_reasons=reasons if failure is None else (),
            schedule=schedule,
            windows=tuple(windows) if windows else None,
            unstable_reason=unstable_reason(windows) if windows else None,
            measured_s=latency_log.window_s if latency_log is not None else None,
        )
        write_record(record, reports, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RunOutcome(point, record.status, failure, reasons, lost)


def _measure(
    matrix: Matrix, point: RunPoint, stack: Stack, prefix: Path, machine: Machine
) -> tuple[str | None, int | None, list[ReplicaExit], Observed]:
    """Locust at one point, watched, with telemetry around it: (failure, exit code, replicas
    lost, what was observed)."""
    extending = matrix.extend_until_stable and not isinstance(point.load, OpenLoad)
    locust_point = extended(point, matrix.max_run_time_s) if extending else point
    observer = Observer(matrix, stack, prefix, machine.cores or 1)
    locust = start_locust(matrix, locust_point, prefix, stack)
    done = (lambda: _stable_so_far(matrix, point, prefix)) if extending else None
    try:
        observer.start(locust.pid)
        budget = locust_run_time_s(locust_point) + LOCUST_OVERRUN_S
        failure, lost = watch(locust, stack, budget, done=done)
    finally:
        stop_group(locust)
        observed = observer.finish()
    failure = _with_last_figures(outcome(locust, failure, prefix), lost, observed)
    return failure, locust.returncode, lost, observed


def _window_length_s(matrix: Matrix, point: RunPoint) -> float | None:
    """An extended run's windows keep the length the run time gives them; None: not extended."""
    if not matrix.extend_until_stable or isinstance(point.load, OpenLoad):
        return None
    return point.run_time_s / matrix.windows


def _stable_so_far(matrix: Matrix, point: RunPoint, prefix: Path) -> bool:
    """Whether the last windows of an extended run, as the recorder has written them so far,
    agree: then the run has measured enough."""
    try:
        log = read_interval_log(Path(f"{prefix}{HDR_SUFFIX}"), Path(f"{prefix}{INTERVALS_SUFFIX}"))
    except (LatencyFileError, FileNotFoundError, ValueError):
        return False
    if log.window_s < point.run_time_s:
        return False
    windows, _ = _windows(matrix, point, log)
    return unstable_reason(windows) is None


def _windows(
    matrix: Matrix, point: RunPoint, log: IntervalLog | None
) -> tuple[list[Window], float]:
    """The run's windows and where the last one ends: the whole measured window split equally,
    or an extended run's last windows of their fixed length."""
    if log is None or log.window_s <= 0:
        return [], 0.0
    length = _window_length_s(matrix, point)
    whole_windows = 0 if length is None else math.floor(log.window_s / length + 1e-6)
    if length is None or whole_windows < matrix.windows:
        return split(log, matrix.windows), log.window_s
    end_s = whole_windows * length
    return split(log, matrix.windows, end_s=end_s, length_s=length), end_s


def _reported(log: IntervalLog | None, windows: list[Window], end_s: float) -> Latency | None:
    """The run's figures: over its windows (an extended run's last ones), exact."""
    if log is None:
        return None
    if not windows:
        return log.whole()
    return log.span(windows[0].start_s, end_s)


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
