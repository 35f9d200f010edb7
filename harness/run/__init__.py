"""One run at one matrix point: warm-up, Locust, the replica watch, the record.

Locust writes into a hidden temporary folder beside the reports; the files are moved into place
when it is done and the record comes last, by rename, so a run is complete only once its record
exists. An interrupted run leaves nothing that looks complete.
"""

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
from harness.machine import git_revision, machine_description
from harness.matrix import Matrix, RunPoint
from harness.record import LOG_SUFFIX, RUN_SUFFIXES, RunName, RunRecord, write_record
from harness.run.locust import (
    LOCUST_OVERRUN_S,
    locust_cpu_saturated,
    locust_run_time_s,
    outcome,
    ramp_seconds,
    start_locust,
    stop_group,
    watch,
)
from harness.run.validity import invalid_reasons, schedule_of
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
) -> RunOutcome:
    """Warm up, run Locust at one point with telemetry, and write its files; the record last."""
    name = RunName.of(point)
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
            observer = Observer(matrix, stack, prefix, machine.cores or 1)
            locust = start_locust(matrix, point, prefix)
            try:
                observer.start(locust.pid)
                failure, lost = watch(locust, stack, locust_run_time_s(point) + LOCUST_OVERRUN_S)
            finally:
                stop_group(locust)
                observed = observer.finish()
            failure, exit_code = outcome(locust, failure, prefix), locust.returncode
            failure = _with_last_figures(failure, lost, observed)
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
            matrix.locust_processes,
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
            **served_model(ready),
            started_at=started_at,
            ended_at=_now(),
            locust_cpu_warning=cpu_warning,
            machine=machine,
            revision=git_revision(),
            matrix=matrix.recorded,
            files=_publish(scratch, reports, name),
            locust_processes=matrix.locust_processes,
            latency=latency_log.whole() if latency_log is not None else None,
            stages=observed.stages,
            resources=observed.resources,
            ceiling=ceiling,
            invalid_reasons=reasons if failure is None else (),
            schedule=schedule,
        )
        write_record(record, reports, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RunOutcome(point, record.status, failure, reasons, lost)


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
