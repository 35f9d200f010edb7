"""Closed-loop load, Locust's own: `users` clients started at `spawn_rate` per second, each
sending its next request once the last is answered. The statistics are reset once every user
has started, so the measured window is the matrix's run time after the ramp."""

import math

from harness.matrix import ClosedLoad, RunPoint


def ramp_seconds(load: ClosedLoad) -> float:
    """When Locust has started every user, and resets the statistics.

    Locust starts max(1, floor(rate)) users at once, one batch every batch / rate seconds, the
    first at once: the last batch starts (batches - 1) * batch / rate seconds in.
    """
    batch = max(1, math.floor(load.spawn_rate))
    batches = math.ceil(load.users / batch)
    ramp = round((batches - 1) * batch / load.spawn_rate, 3)
    return int(ramp) if ramp.is_integer() else ramp


def locust_run_time_s(point: RunPoint) -> int:
    """Locust's --run-time: the ramp, then the measured window (Locust takes whole seconds)."""
    return math.ceil(ramp_seconds(point.load) + point.run_time_s)


def locust_load_options(point: RunPoint) -> list[str]:
    return [
        "--users",
        str(point.load.users),
        "--spawn-rate",
        str(point.load.spawn_rate),
        "--run-time",
        f"{locust_run_time_s(point)}s",
        "--reset-stats",
    ]
