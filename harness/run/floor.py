"""The load generator's own floor (as wrk2 calibrates): the latency it reports at a run's rate and
payload against a null endpoint the harness serves itself (harness/run/null_server.py), which
answers at once. Whatever latency it measures there is the generator's, and under every figure
it measures on the stack: a run whose p99 owes more than GENERATOR_BOUND of itself to the floor
is generator-bound. For a streamed request the null endpoint sends every token at once, and the
floor holds the generator's own TTFT and ITL too. With `locust_workers: "auto"`, the number of
Locust processes is the one whose floor is lowest at the run's rate, trying more while they help.

Open-loop runs only (a rate to reproduce); each rate and payload is calibrated once per process.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from harness import REPO_ROOT, locust_module
from harness.generation import GenerationFigures, read_generation
from harness.generation_files import timing_logs
from harness.latency import Latency
from harness.matrix import Matrix, OpenLoad, RunPoint, ShapedLoad
from harness.record.parts import Floor
from harness.run.locust import LOCUST_OVERRUN_S, locust_run_time_s, start_locust, stop_group
from harness.run.recorded import log_so_far
from harness.stack.base import local_workers
from harness.stack.network import free_port, port_in_use

FLOOR_S = 5
GENERATOR_BOUND = 0.10  # the floor's p99 over this share of a run's p99: the tail is Locust's
BETTER_BY = 0.10  # "auto" adds a process while it lowers the floor's p99 by this much
SERVER_START_S = 10.0


_measured: dict[tuple, Floor] = {}


def calibration_rate(point: RunPoint) -> float | None:
    """The rate a run's floor is measured at: its own, a shape's peak, a trace's mean."""
    load = point.load
    if isinstance(load, OpenLoad):
        return load.rate
    if isinstance(load, ShapedLoad) and load.opened:
        if load.trace is None:
            return max(value for value, _, _ in load.phases)
        arrivals = locust_module("schedules").read_trace(REPO_ROOT / load.trace, load.speed)
        return len(arrivals) / max(load.seconds, 1.0)
    return None


def floor_for(matrix: Matrix, point: RunPoint, cores: int) -> Floor | None:
    """The floor at the run's rate, with the matrix's workers, or for "auto" the best number
    of them; None for a run with no rate (a closed loop)."""
    rate = calibration_rate(point)
    if rate is None:
        return None
    if matrix.locust_workers is not None:
        return _floor(matrix, rate, matrix.locust_workers)
    best = _floor(matrix, rate, 1)
    for workers in range(2, max(2, cores) + 1):
        tried = _floor(matrix, rate, workers)
        if (
            best.p99_ms is None
            or tried.p99_ms is None
            or tried.p99_ms > (1 - BETTER_BY) * best.p99_ms
        ):
            break
        best = tried
    return best


def generator_bound(floor: Floor | None, p99_ms: float | None) -> bool | None:
    if floor is None or floor.p99_ms is None or not p99_ms:
        return None
    return floor.p99_ms > GENERATOR_BOUND * p99_ms


def _floor(matrix: Matrix, rate: float, workers: int) -> Floor:
    key = (rate, matrix.arrival, matrix.burstiness, workers, repr(matrix.request), matrix.images)
    if key not in _measured:
        _measured[key] = measure(matrix, rate, workers)
    return _measured[key]


def _wait_listening(port: int) -> None:
    deadline = time.monotonic() + SERVER_START_S
    while not port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.05)


def measure(matrix: Matrix, rate: float, workers: int) -> Floor:
    """The floor at this rate with this many Locust processes, measured now."""
    port = free_port()
    keys = ",".join(matrix.request.get("expect", {}).get("keys", ()))
    server = subprocess.Popen(
        [sys.executable, "-m", "harness.run.null_server", "--port", str(port), "--keys", keys],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        _wait_listening(port)
        null = replace(matrix, host=f"http://127.0.0.1:{port}")
        measured, stream = locust_alone(
            null, null.open_point("null", 1, rate, f"{FLOOR_S}s"), workers
        )
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    streamed = stream is not None and stream.streams > 0
    ttft = stream.ttft_ms if streamed else None
    itl = stream.itl_ms if streamed else None
    return Floor(
        rate=rate,
        workers=workers,
        p50_ms=measured.p50_ms if measured else None,
        p99_ms=measured.p99_ms if measured else None,
        ttft_p50_ms=ttft.p50 if ttft else None,
        ttft_p99_ms=ttft.p99 if ttft else None,
        itl_p50_ms=itl.p50 if itl else None,
        itl_p99_ms=itl.p99 if itl else None,
    )


def locust_alone(
    matrix: Matrix, point: RunPoint, workers: int
) -> tuple[Latency | None, GenerationFigures | None]:
    """Locust alone at one point against the matrix's host (no stack, no telemetry, no warm-up):
    its latency and, for generative requests, its stream figures over the whole window; None
    where it recorded nothing. The floor's run, and the stream benchmark's."""
    scratch = Path(tempfile.mkdtemp(prefix=".floor."))
    prefix = scratch / "floor"
    try:
        locust = start_locust(matrix, point, prefix, workers, local_workers(workers))
        try:
            locust.wait(timeout=locust_run_time_s(point) + LOCUST_OVERRUN_S)
        except subprocess.TimeoutExpired:
            pass
        finally:
            stop_group(locust)
        log = log_so_far(prefix)
        if log is None:
            return None, None
        return log.whole(), read_generation(timing_logs(prefix), log, 0.0, log.window_s)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
