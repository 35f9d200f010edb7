"""The throughput a short closed-loop burst gets: many users, a few seconds, nothing recorded but
the figure. It is where a capacity search starts when nothing else says what the stack can take:
the highest rate it can serve bounds the highest it can serve within the SLO."""

import shutil
import tempfile
from pathlib import Path

from harness.matrix import ClosedLoad, Matrix, RunPoint
from harness.run.locust import (
    LOCUST_OVERRUN_S,
    locust_run_time_s,
    start_ahead,
    start_locust,
    stop_group,
    watch,
)
from harness.run.recorded import log_so_far
from harness.stack import Stack

BURST_S = 5
USERS_PER_REPLICA = 8
LEAST_USERS = 16


def burst_users(matrix: Matrix, models: int) -> int:
    """Enough clients to keep every replica busy, within what the open loop may have out."""
    return min(matrix.max_in_flight, max(LEAST_USERS, USERS_PER_REPLICA * models))


def burst_throughput(matrix: Matrix, stack: Stack, target: str, models: int) -> float | None:
    """Successful answers per second over a burst at `models` replicas; None when it got none."""
    users = burst_users(matrix, models)
    point = RunPoint(target, models, ClosedLoad(users, users), f"{BURST_S}s")
    scratch = Path(tempfile.mkdtemp(prefix=".burst."))
    try:
        prefix = scratch / "burst"
        workers = matrix.locust_workers or 1
        locust = start_locust(matrix, point, prefix, workers, stack.locust_options(workers))
        try:
            watch(locust, stack, locust_run_time_s(point) + LOCUST_OVERRUN_S)
        finally:
            stop_group(locust)
        start_ahead()  # the search's first probe's Locust, importing while the burst is read
        log = log_so_far(prefix)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if log is None:
        return None
    measured = log.whole()
    answered = measured.requests - measured.failures
    return answered / measured.seconds if answered > 0 and measured.seconds > 0 else None
