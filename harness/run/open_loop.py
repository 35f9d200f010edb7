"""Open-loop load (locust/openloop.py): requests arrive on a schedule (locust/schedules.py), a
flat rate or a shape's, split between Locust's processes; latency counts from each request's
scheduled time. The test ends once every scheduled request is answered, or DRAIN_S after the
schedule at the latest."""

import json
import math

from harness import locust_module
from harness.matrix import OpenLoad, RunPoint, ShapedLoad

USER_CLASS = "OpenLoopUser"
# Past the schedule's end, the longest the last requests may take before Locust stops anyway.
DRAIN_S = 30


def schedule_spec(load: OpenLoad | ShapedLoad, run_time_s: float) -> dict:
    """The schedule as locust/schedules.py reads it."""
    if isinstance(load, ShapedLoad) and load.trace is not None:
        return {"trace": load.trace, "speed": load.speed}
    spec = {"arrival": load.arrival, "burstiness": load.burstiness}
    if isinstance(load, ShapedLoad):
        return {**spec, "phases": [list(phase) for phase in load.phases]}
    return {**spec, "rate": load.rate, "duration_s": run_time_s}


def due_by(load: OpenLoad | ShapedLoad, run_time_s: float, seconds: float) -> int:
    """How many arrivals the schedule has due in its first `seconds`."""
    arrivals = locust_module("schedules").arrivals(schedule_spec(load, run_time_s))
    return sum(1 for time, _ in arrivals if time < seconds)


def locust_run_time_s(point: RunPoint) -> int:
    return math.ceil(point.run_time_s + DRAIN_S)


def locust_load_options(load: OpenLoad | ShapedLoad, run_time_s: int, processes: int) -> list[str]:
    return [
        # One OpenLoopUser per Locust process, started at once: each sends its share.
        "--users",
        str(processes),
        "--spawn-rate",
        str(processes),
        "--run-time",
        f"{run_time_s + DRAIN_S}s",
        "--reset-stats",
        "--loadbench-schedule",
        json.dumps(schedule_spec(load, run_time_s)),
        "--loadbench-max-in-flight",
        str(max(1, load.max_in_flight // processes)),
        "--loadbench-processes",
        str(processes),
    ]
