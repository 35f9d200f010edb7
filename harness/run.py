"""One Locust run at one matrix point: naming, warm-up, the Locust command, the replica watch,
metadata, and atomic writes.

Locust writes into a hidden temporary folder beside the reports; the files are moved into place
when it is done and S.meta.json comes last, by rename, so a run is complete only once its
metadata exists. An interrupted run leaves nothing that looks complete.
"""

import json
import math
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests

from harness import REPO_ROOT
from harness.machine import git_revision, machine_description
from harness.matrix import Matrix, RunPoint
from harness.stack import ReplicaExit, Stack

META_SCHEMA = 1
LOCUST_FILE_SUFFIXES = (
    ".html",
    "_stats.csv",
    "_stats_history.csv",
    "_failures.csv",
    "_exceptions.csv",
    ".json",
    ".log",
)
# Time Locust may take beyond ramp + run time (start-up, writing reports) before it is stopped.
LOCUST_OVERRUN_S = 60
LOCUST_STOP_GRACE_S = 15
WATCH_INTERVAL_S = 1.0
WARMUP_TIMEOUT_S = 30
CPU_WARNING_MARKERS = ("CPU usage above", "CPU usage was too high", "CPU usage threshold")
SAMPLE_IMAGES_DIR = REPO_ROOT / "locust" / "images"


def spawn_rate_label(spawn_rate: float) -> str:
    """The spawn rate as written in the matrix: 0.5 stays "0.5", 2 and 2.0 become "2"."""
    if float(spawn_rate).is_integer():
        return str(int(spawn_rate))
    return repr(float(spawn_rate))


def run_stem(point: RunPoint) -> str:
    return f"{point.models}_{point.users}_{spawn_rate_label(point.spawn_rate)}"


def ramp_seconds(point: RunPoint) -> float:
    """When Locust has started every user, and resets the statistics.

    Locust starts max(1, floor(rate)) users at once, one batch every batch / rate seconds, the
    first at once: the last batch starts (batches - 1) * batch / rate seconds in.
    """
    batch = max(1, math.floor(point.spawn_rate))
    batches = math.ceil(point.users / batch)
    ramp = round((batches - 1) * batch / point.spawn_rate, 3)
    return int(ramp) if ramp.is_integer() else ramp


def locust_run_time_s(matrix: Matrix, point: RunPoint) -> int:
    """Locust's --run-time: the ramp, then the matrix's measured window (Locust takes seconds)."""
    return math.ceil(ramp_seconds(point) + matrix.run_time_s)


def meta_path(reports: Path, point: RunPoint) -> Path:
    return reports / point.target / f"{run_stem(point)}.meta.json"


def is_complete(reports: Path, point: RunPoint) -> bool:
    """A run whose metadata says ok and whose every listed file is there."""
    path = meta_path(reports, point)
    try:
        meta = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return False
    return meta.get("status") == "ok" and all(
        (path.parent / name).is_file() for name in meta.get("files", [])
    )


def locust_command(matrix: Matrix, point: RunPoint, prefix: Path) -> list[str]:
    """Locust headless for ramp + run time; statistics reset once every user is spawned."""
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        str(matrix.locustfile),
        "--headless",
        "--host",
        matrix.host,
        "--users",
        str(point.users),
        "--spawn-rate",
        str(point.spawn_rate),
        "--run-time",
        f"{locust_run_time_s(matrix, point)}s",
        "--reset-stats",
        "--html",
        f"{prefix}.html",
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
        # Failed requests are measurements (the failure ratio), not a failed run.
        "--exit-code-on-error",
        "0",
    ]
    if matrix.locust_processes > 1:
        command += ["--processes", str(matrix.locust_processes)]
    return command


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


def locust_cpu_saturated(log_text: str) -> bool:
    """Whether Locust warned that its own CPU limited the load (the figures then measure it)."""
    return any(marker in log_text for marker in CPU_WARNING_MARKERS)


def served_model(ready: dict[str, Any], env: dict[str, str]) -> dict[str, str]:
    """Model, runtime and device as the workers report them in /ready, else as configured."""
    reported = ready.get("models")
    if isinstance(reported, list) and reported and isinstance(reported[0], dict):
        return {key: str(reported[0].get(key)) for key in ("model", "runtime", "device")}
    return {
        "model": env.get("MODEL_NAME", "efficientnet-lite0"),
        "runtime": env.get("RUNTIME", "onnxruntime"),
        "device": env.get("DEVICE", "cpu"),
    }


@dataclass
class RunOutcome:
    point: RunPoint
    status: str
    failure_reason: str | None
    locust_cpu_warning: bool
    lost_replicas: list[ReplicaExit]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _stop_group(process: subprocess.Popen) -> None:
    """SIGTERM lets Locust write its reports; SIGKILL if it does not finish in time."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=LOCUST_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


def _watch_locust(
    process: subprocess.Popen, stack: Stack, deadline_s: float
) -> tuple[str | None, list[ReplicaExit]]:
    """Wait for Locust; stop it early when a replica of the stack exits or time runs out."""
    deadline = time.monotonic() + deadline_s
    while process.poll() is None:
        lost = stack.exited()
        if lost:
            _stop_group(process)
            reasons = "; ".join(gone.describe() for gone in lost)
            return f"{reasons} during the run", lost
        if time.monotonic() > deadline:
            _stop_group(process)
            return f"Locust did not finish within {deadline_s:.0f}s", []
        time.sleep(WATCH_INTERVAL_S)
    return None, []


def _run_locust(
    matrix: Matrix, point: RunPoint, stack: Stack, prefix: Path
) -> tuple[str | None, list[ReplicaExit], int | None]:
    """Locust at one point with its output in prefix.log: (failure, lost replicas, exit code)."""
    with Path(f"{prefix}.log").open("wb") as log:
        locust = subprocess.Popen(
            locust_command(matrix, point, prefix),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        budget = locust_run_time_s(matrix, point) + LOCUST_OVERRUN_S
        failure, lost = _watch_locust(locust, stack, budget)
    finally:
        _stop_group(locust)
    if failure is None and locust.returncode != 0:
        failure = f"Locust exited with code {locust.returncode} (see {prefix.name}.log)"
    if failure is None and not Path(f"{prefix}.html").is_file():
        failure = f"Locust wrote no HTML report (see {prefix.name}.log)"
    return failure, lost, locust.returncode


def _publish(scratch: Path, target_dir: Path, stem: str) -> list[str]:
    """Move the run's files into place, replacing any earlier attempt's; their names."""
    files = []
    for suffix in LOCUST_FILE_SUFFIXES:
        produced, published = scratch / f"{stem}{suffix}", target_dir / f"{stem}{suffix}"
        published.unlink(missing_ok=True)
        if produced.is_file():
            produced.replace(published)
            files.append(published.name)
    return files


def execute_run(
    matrix: Matrix, point: RunPoint, stack: Stack, reports: Path, ready: dict[str, Any]
) -> RunOutcome:
    """Warm up, run Locust at one point, and write its files; S.meta.json last."""
    stem = run_stem(point)
    target_dir = reports / point.target
    target_dir.mkdir(parents=True, exist_ok=True)
    meta_path(reports, point).unlink(missing_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=target_dir))
    try:
        started_at = _now()
        log_path = scratch / f"{stem}.log"
        failure, exit_code = warm_up(matrix), None
        lost: list[ReplicaExit] = []
        if failure is None:
            failure, lost, exit_code = _run_locust(matrix, point, stack, scratch / stem)
        log_text = log_path.read_text(errors="replace") if log_path.exists() else ""
        cpu_warning = locust_cpu_saturated(log_text)
        with log_path.open("a") as log:
            if failure is not None:
                log.write(f"\n--- run failed: {failure}\n")
            for gone in lost:
                log.write(f"\n--- log of {gone.name} ({gone.describe()}) ---\n{gone.log}\n")
        meta = {
            "schema": META_SCHEMA,
            "target": point.target,
            "models": point.models,
            "users": point.users,
            "spawn_rate": point.spawn_rate,
            "spawn_rate_label": spawn_rate_label(point.spawn_rate),
            "run_time": matrix.run_time,
            "run_time_s": matrix.run_time_s,
            "ramp_s": ramp_seconds(point),
            "backend": stack.backend,
            **served_model(ready, stack.env),
            "started_at": started_at,
            "ended_at": _now(),
            "status": "ok" if failure is None else "failed",
            "failure_reason": failure,
            "exit_code": exit_code,
            "locust_cpu_warning": cpu_warning,
            "machine": machine_description(),
            "revision": git_revision(),
            "matrix": matrix.data,
            "files": _publish(scratch, target_dir, stem),
        }
        partial = scratch / f"{stem}.meta.json"
        partial.write_text(json.dumps(meta, indent=2) + "\n")
        partial.replace(meta_path(reports, point))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return RunOutcome(point, meta["status"], failure, cpu_warning, lost)
