"""Locust as the harness runs it: the command, and watching it while the stack might lose a
replica."""

import atexit
import contextlib
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


def locust_arguments(
    matrix: Matrix, point: RunPoint, prefix: Path, workers: int, placement: list[str]
) -> list[str]:
    """Locust's command line (after `locust`): headless at one point with `workers` workers
    placed as `placement` says (the stack's Locust options), its reports written next to
    `prefix`."""
    opened = point.opened
    if opened:
        load_options = open_loop.locust_load_options(point.load, point.run_time_s, workers)
    else:
        load_options = closed_loop.locust_load_options(point)
    arguments = [
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
        arguments.append(open_loop.USER_CLASS)  # the one user class this run starts
    return arguments


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
    """Locust at one point, in its own process group, its output in prefix.log: the one started
    ahead (`start_ahead`) where there is one, else one started now.

    An ending signal that comes while it is started waits until it is: with a `preexec_fn`,
    Python runs its at-fork hooks (logging's among them) in the parent, and the
    KeyboardInterrupt a signal raises there is printed and dropped, so a SIGTERM was lost and
    the sweep ran on. Locust, once started, is stopped with the run."""
    order = json.dumps(
        {
            "arguments": locust_arguments(matrix, point, prefix, workers, placement),
            "log": str(Path(f"{prefix}{LOG_SUFFIX}")),
        }
    )
    process = None
    try:
        with uninterrupted():
            process = _AHEAD.take()
            if process is not None and not _ordered(process, order):  # it ended meanwhile
                _dismissed(process)
                process = None
            if process is None:
                process = _waiting_locust()
                _ordered(process, order)  # else it failed to start: its exit code says so
    except KeyboardInterrupt:
        if process is not None:
            stop_group(process)
        raise
    return process


def start_ahead() -> None:
    """Start the next run's Locust now, as one run's Locust has stopped: Python's 0.7 s of
    importing it then overlap the harness's work between the two runs (record, index, the next
    step, the warm-up) rather than delaying the next run. It waits, idle, for its command line
    (locust/waiting.py); an unused one ends with the harness."""
    with uninterrupted():
        _AHEAD.keep(_waiting_locust)


class _Ahead:
    """The one Locust started ahead, if any, and the environment it was started in: a run
    whose environment has changed since (a test's, a tune's) gets one started afresh."""

    def __init__(self) -> None:
        self.process: subprocess.Popen | None = None
        self.environment: dict[str, str] = {}
        atexit.register(self.dismiss)

    def keep(self, start: Callable[[], subprocess.Popen]) -> None:
        """One waiting, started in the environment as it is now (one started in another would
        only be dismissed by the run that takes it)."""
        if self.process is not None and self.environment != os.environ:
            self.dismiss()
        if self.process is None or self.process.poll() is not None:
            self.process, self.environment = start(), dict(os.environ)

    def take(self) -> subprocess.Popen | None:
        process, self.process = self.process, None
        if process is not None and (process.poll() is not None or self.environment != os.environ):
            _dismissed(process)
            return None
        return process

    def dismiss(self) -> None:
        if self.process is not None:
            _dismissed(self.process)
            self.process = None


_AHEAD = _Ahead()


def _waiting_locust() -> subprocess.Popen:
    """A Locust process importing itself, then waiting for its command line on stdin."""
    return subprocess.Popen(
        [sys.executable, str(REPO_ROOT / "locust" / "waiting.py")],
        cwd=REPO_ROOT,
        stdin=subprocess.PIPE,
        # The run's log, once it has its command line (locust/waiting.py: an import that
        # failed is told there too); it holds none of the harness's own pipes meanwhile.
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        # Ctrl-C as a terminal delivers it, even where the harness runs with it ignored (a
        # background job): it is how Locust is told to stop and write its reports.
        preexec_fn=_sigint_as_in_a_terminal,
    )


def _ordered(process: subprocess.Popen, order: str) -> bool:
    """Whether a waiting Locust took its command line (False: it had ended)."""
    try:
        process.stdin.write(f"{order}\n".encode())
        process.stdin.close()
    except BrokenPipeError:
        return False
    return True


def _dismissed(process: subprocess.Popen) -> None:
    """A waiting Locust, ended: its stdin closed (it exits at once), killed if it does not."""
    try:
        process.stdin.close()
        process.wait(timeout=LOCUST_STOP_GRACE_S)
    except (OSError, subprocess.TimeoutExpired):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def _sigint_as_in_a_terminal() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def outcome(locust: subprocess.Popen, failure: str | None, prefix: Path) -> str | None:
    """The run's failure once Locust has stopped: the watch's, or what Locust left behind."""
    if failure is None and locust.returncode != 0:
        return f"Locust exited with code {locust.returncode} (see {prefix.name}.log)"
    if failure is None and not Path(f"{prefix}{HTML_SUFFIX}").is_file():
        return f"Locust wrote no HTML report (see {prefix.name}.log)"
    return failure
