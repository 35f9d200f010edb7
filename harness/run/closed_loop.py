"""Closed-loop load, Locust's own: `users` clients started at `spawn_rate` per second, each
sending its next request once the last is answered. The statistics are reset once every user
has started, so the measured window is the matrix's run time after the ramp. A shape of users
(locust/shapes.py) is measured whole, from its start."""

import json
import math

from harness.matrix import ClosedLoad, RunPoint, ShapedLoad

# A shape's test ends with its last phase; this is Locust's own bound beyond it.
SHAPE_MARGIN_S = 10


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
    if isinstance(point.load, ShapedLoad):
        return math.ceil(point.run_time_s + SHAPE_MARGIN_S)
    return math.ceil(ramp_seconds(point.load) + point.run_time_s)


def locust_load_options(point: RunPoint) -> list[str]:
    if isinstance(point.load, ShapedLoad):
        phases = [list(phase) for phase in point.load.phases]
        return [
            "--run-time",
            f"{locust_run_time_s(point)}s",
            "--loadbench-users-shape",
            json.dumps(phases),
        ]
    return [
        "--users",
        str(point.load.users),
        "--spawn-rate",
        str(point.load.spawn_rate),
        "--run-time",
        f"{locust_run_time_s(point)}s",
        "--reset-stats",
    ]
