"""Locust as the harness runs it: the command, and watching it while the stack might lose a
replica."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from harness import REPO_ROOT
from harness.matrix import Matrix, OpenLoad, RunPoint
from harness.run import closed_loop, open_loop
from harness.stack import ReplicaExit, Stack

# Time Locust may take beyond ramp + run time (start-up, writing reports) before it is stopped.
LOCUST_OVERRUN_S = 60
LOCUST_STOP_GRACE_S = 15
WATCH_INTERVAL_S = 1.0
CPU_WARNING_MARKERS = ("CPU usage above", "CPU usage was too high", "CPU usage threshold")
# How long the master waits for the stack's Locust workers to connect before it gives up.
EXPECT_WORKERS_S = 120
# Loaded beside any locustfile: every request's exact latency.
RECORDER = REPO_ROOT / "locust" / "recorder.py"


def locust_run_time_s(point: RunPoint) -> int:
    """How long Locust runs at this point, before any overrun."""
    if isinstance(point.load, OpenLoad):
        return open_loop.locust_run_time_s(point)
    return closed_loop.locust_run_time_s(point)


def extended(point: RunPoint, max_run_time_s: int) -> RunPoint:
    """The point with Locust's window lengthened to the most an extension may measure."""
    return replace(point, run_time=f"{max_run_time_s}s")


def ramp_seconds(point: RunPoint) -> float:
    """The time before the measured window; the open loop starts at full rate."""
    return 0 if isinstance(point.load, OpenLoad) else closed_loop.ramp_seconds(point.load)


def expected_seconds(point: RunPoint) -> float:
    """How long the run should take: the ramp, then the measured window."""
    return ramp_seconds(point) + point.run_time_s


def locust_command(matrix: Matrix, point: RunPoint, prefix: Path, stack: Stack) -> list[str]:
    """Locust headless at one point, its reports written next to `prefix`.

    The recorder (exact latencies) is loaded first, so the open loop's counters reach it.
    """
    locustfiles = [str(RECORDER), str(matrix.locustfile)]
    if isinstance(point.load, OpenLoad):
        locustfiles.insert(1, str(REPO_ROOT / open_loop.OPENLOOP))
        load_options = open_loop.locust_load_options(
            point.load, point.run_time_s, matrix.locust_workers
        )
    else:
        load_options = closed_loop.locust_load_options(point)
    workers = matrix.locust_workers
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        ",".join(locustfiles),
        "--headless",
        "--host",
        matrix.host,
        *load_options,
        "--html",
        f"{prefix}.html",
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
        # Failed requests are measurements (the failure ratio), not a failed run.
        "--exit-code-on-error",
        "0",
        "--loadbench-prefix",
        str(prefix),
    ]
    if stack.hosts_locust_workers:
        # The workers are a service of the stack; they connect to this master.
        command += [
            "--master",
            "--master-bind-host",
            stack.env["LOCUST_MASTER_HOST"],
            "--master-bind-port",
            stack.env["LOCUST_MASTER_PORT"],
            "--expect-workers",
            str(workers),
            "--expect-workers-max-wait",
            str(EXPECT_WORKERS_S),
        ]
    elif workers > 1:
        command += ["--processes", str(workers)]  # Locust's own local workers
    if isinstance(point.load, OpenLoad):
        command.append(open_loop.USER_CLASS)  # the one user class this run starts
    return command


def locust_cpu_saturated(log_text: str) -> bool:
    """Whether Locust warned that its own CPU limited the load (the figures then measure it)."""
    return any(marker in log_text for marker in CPU_WARNING_MARKERS)


def stop_group(process: subprocess.Popen) -> None:
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


def watch(
    process: subprocess.Popen,
    stack: Stack,
    budget_s: float,
    interval_s: float = WATCH_INTERVAL_S,
    done: Callable[[], bool] | None = None,
) -> tuple[str | None, list[ReplicaExit]]:
    """Wait for Locust; stop it early when a replica of the stack exits or time runs out, or,
    with no failure, when `done` says the run has measured enough.

    Returns the reason the run failed (None when it did not) and the replicas lost.
    """
    deadline = time.monotonic() + budget_s
    while process.poll() is None:
        if done is not None and done():
            stop_group(process)
            return None, []
        lost = stack.exited()
        if lost:
            stop_group(process)
            reasons = "; ".join(gone.describe() for gone in lost)
            return f"{reasons} during the run", lost
        if time.monotonic() > deadline:
            stop_group(process)
            return f"Locust did not finish within {budget_s:.0f}s", []
        time.sleep(interval_s)
    return None, []


def start_locust(matrix: Matrix, point: RunPoint, prefix: Path, stack: Stack) -> subprocess.Popen:
    """Locust at one point, in its own process group, its output in prefix.log."""
    with Path(f"{prefix}.log").open("wb") as log:
        return subprocess.Popen(
            locust_command(matrix, point, prefix, stack),
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def outcome(locust: subprocess.Popen, failure: str | None, prefix: Path) -> str | None:
    """The run's failure once Locust has stopped: the watch's, or what Locust left behind."""
    if failure is None and locust.returncode != 0:
        return f"Locust exited with code {locust.returncode} (see {prefix.name}.log)"
    if failure is None and not Path(f"{prefix}.html").is_file():
        return f"Locust wrote no HTML report (see {prefix.name}.log)"
    return failure
