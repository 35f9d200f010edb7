"""Locust as the harness runs it: the command, and watching it while the stack might lose a
replica."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from harness import REPO_ROOT, locust_module
from harness.interrupts import uninterrupted
from harness.matrix import Matrix, RunPoint, Slo
from harness.record.names import HTML_SUFFIX, LOG_SUFFIX, in_repository, locustfiles
from harness.run import closed_loop, open_loop
from harness.stack import ReplicaExit, Stack

# Time Locust may take beyond ramp + run time (start-up, writing reports) before it is stopped.
LOCUST_OVERRUN_S = 60
LOCUST_STOP_GRACE_S = 15
WATCH_INTERVAL_S = 1.0
CPU_WARNING_MARKERS = ("CPU usage above", "CPU usage was too high", "CPU usage threshold")


def locust_run_time_s(point: RunPoint) -> int:
    """How long Locust runs at this point, before any overrun."""
    if point.opened:
        return open_loop.locust_run_time_s(point)
    return closed_loop.locust_run_time_s(point)


def extended(point: RunPoint, max_run_time_s: int) -> RunPoint:
    """The point with Locust's window lengthened to the most an extension may measure."""
    return replace(point, run_time=f"{max_run_time_s}s")


def ramp_seconds(point: RunPoint) -> float:
    """The time before the measured window; the open loop starts at full rate, and a shape is
    measured whole."""
    return 0 if point.opened or point.shaped else closed_loop.ramp_seconds(point.load)


def expected_seconds(point: RunPoint) -> float:
    """How long the run should take: the ramp, then the measured window."""
    return ramp_seconds(point) + point.run_time_s


def locust_command(
    matrix: Matrix, point: RunPoint, prefix: Path, workers: int, placement: list[str]
) -> list[str]:
    """Locust headless at one point with `workers` workers placed as `placement` says (the
    stack's Locust options), its reports written next to `prefix`."""
    opened = point.opened
    if opened:
        load_options = open_loop.locust_load_options(point.load, point.run_time_s, workers)
    else:
        load_options = closed_loop.locust_load_options(point)
    command = [
        sys.executable,
        "-m",
        "locust",
        "--locustfile",
        ",".join(str(path) for path in locustfiles(matrix.locustfile, opened, point.shaped)),
        "--headless",
        "--host",
        matrix.host,
        *load_options,
        "--html",
        f"{prefix}{HTML_SUFFIX}",
        "--csv",
        str(prefix),
        "--json-file",
        str(prefix),
        # Failed requests are measurements (the failure ratio), not a failed run.
        "--exit-code-on-error",
        "0",
        "--loadbench-prefix",
        str(prefix),
        *goodput_options(matrix.slo),
        # What the built-in locustfile sends; relative to the repository, as the workers of a
        # swarm hold it in their image too.
        "--loadbench-request",
        json.dumps(matrix.request),
        "--loadbench-images",
        in_repository(matrix.images),
        *placement,
    ]
    if opened:
        command.append(open_loop.USER_CLASS)  # the one user class this run starts
    return command


def goodput_options(slo: Slo) -> list[str]:
    """The recorder's options for the thresholds a good request meets (locust/goodput.py)."""
    thresholds = locust_module("goodput").Thresholds(slo.good_within_ms, slo.ttft_ms, slo.itl_ms)
    return thresholds.command_line()


def locust_cpu_saturated(log_text: str) -> bool:
    """Whether Locust warned that its own CPU limited the load (the figures then measure it)."""
    return any(marker in log_text for marker in CPU_WARNING_MARKERS)


def stop_group(process: subprocess.Popen) -> None:
    """Stop a run's Locust: SIGINT to its master, as Ctrl-C would, since only then does Locust
    write its HTML report (on SIGTERM it exits without), and the master stops its workers;
    SIGKILL to the whole group if it does not finish in time."""
    if process.poll() is not None:
        return
    try:
        os.kill(process.pid, signal.SIGINT)
        process.wait(timeout=LOCUST_STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()


@dataclass
class Watched:
    """How a run's Locust ended: the reason the run failed (None: it did not), the replicas
    lost, and why it was stopped before its time without failing (None: it was not)."""

    failure: str | None = None
    lost: list[ReplicaExit] = field(default_factory=list)
    ended_early: str | None = None


def watch(
    process: subprocess.Popen,
    stack: Stack,
    budget_s: float,
    interval_s: float = WATCH_INTERVAL_S,
    enough: Callable[[], str | None] | None = None,
) -> Watched:
    """Wait for Locust; stop it early when a replica of the stack exits or time runs out, or,
    with no failure, when `enough` gives a reason the run has measured enough."""
    deadline = time.monotonic() + budget_s
    while process.poll() is None:
        reason = enough() if enough is not None else None
        if reason is not None:
            stop_group(process)
            return Watched(ended_early=reason)
        lost = stack.exited()
        if lost:
            stop_group(process)
            reasons = "; ".join(gone.describe() for gone in lost)
            return Watched(f"{reasons} during the run", lost)
        if time.monotonic() > deadline:
            stop_group(process)
            return Watched(f"Locust did not finish within {budget_s:.0f}s")
        try:
            process.wait(timeout=interval_s)  # back as soon as Locust ends, not a beat later
        except subprocess.TimeoutExpired:
            pass
    return Watched()


def start_locust(
    matrix: Matrix, point: RunPoint, prefix: Path, workers: int, placement: list[str]
) -> subprocess.Popen:
    """Locust at one point, in its own process group, its output in prefix.log.

    An ending signal that comes while it is forked waits until the fork is done: with a
    `preexec_fn`, Python runs its at-fork hooks (logging's among them) in the parent, and the
    KeyboardInterrupt a signal raises there is printed and dropped, so a SIGTERM was lost and
    the sweep ran on. Locust, once started, is stopped with the run."""
    with Path(f"{prefix}{LOG_SUFFIX}").open("wb") as log:
        try:
            with uninterrupted():
                process = subprocess.Popen(
                    locust_command(matrix, point, prefix, workers, placement),
                    cwd=REPO_ROOT,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    # Ctrl-C as a terminal delivers it, even where the harness runs with it
                    # ignored (a background job): it is how Locust is told to stop and write
                    # its reports.
                    preexec_fn=_sigint_as_in_a_terminal,
                )
        except KeyboardInterrupt:
            stop_group(process)
            raise
    return process


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def outcome(locust: subprocess.Popen, failure: str | None, prefix: Path) -> str | None:
    """The run's failure once Locust has stopped: the watch's, or what Locust left behind."""
    if failure is None and locust.returncode != 0:
        return f"Locust exited with code {locust.returncode} (see {prefix.name}.log)"
    if failure is None and not Path(f"{prefix}{HTML_SUFFIX}").is_file():
        return f"Locust wrote no HTML report (see {prefix.name}.log)"
    return failure
