"""Open-loop load (locust/openloop.py): requests arrive on a schedule at the point's rate,
split between Locust's processes; latency counts from each request's scheduled time. The test
ends once every scheduled request is answered, or DRAIN_S after the schedule at the latest."""

import math

from harness.matrix import OpenLoad, RunPoint

OPENLOOP = "locust/openloop.py"
USER_CLASS = "OpenLoopUser"
# Past the schedule's end, the longest the last requests may take before Locust stops anyway.
DRAIN_S = 30


def locust_run_time_s(point: RunPoint) -> int:
    return math.ceil(point.run_time_s + DRAIN_S)


def locust_load_options(load: OpenLoad, run_time_s: int, processes: int) -> list[str]:
    return [
        # One OpenLoopUser per Locust process, started at once: each sends its share.
        "--users",
        str(processes),
        "--spawn-rate",
        str(processes),
        "--run-time",
        f"{run_time_s + DRAIN_S}s",
        "--reset-stats",
        "--loadbench-rate",
        str(load.rate),
        "--loadbench-arrival",
        load.arrival,
        "--loadbench-max-in-flight",
        str(max(1, load.max_in_flight // processes)),
        "--loadbench-processes",
        str(processes),
        "--loadbench-duration-s",
        str(run_time_s),
    ]
