"""Whether a run counts: a run whose load generator could not do what was asked measures the
generator, not the stack. An invalid run is listed with its reasons and feeds no conclusion.

Open loop (as MLPerf's server scenario and perf_analyzer's request-rate mode judge it): the
arrivals sent per second of the schedule within ACHIEVED_RATE_TOLERANCE of the rate asked, and
at most LATE_OR_DROPPED of the arrivals sent late (more than locust/openloop.py's LATE_MS after
their time) or dropped at the in-flight cap. Both kinds: Locust did not warn that its CPU was
saturated nor ran at LOCUST_SATURATED of its cores, and the window holds `min_requests`.
"""

from harness.latency import IntervalLog
from harness.matrix import OpenLoad, RunPoint
from harness.record import Schedule
from harness.telemetry.summary import LOCUST_SATURATED, ResourceUse

ACHIEVED_RATE_TOLERANCE = 0.03
LATE_OR_DROPPED = 0.01


def schedule_of(point: RunPoint, log: IntervalLog | None) -> Schedule | None:
    if not isinstance(point.load, OpenLoad) or log is None:
        return None
    scheduled, dropped = log.counter("scheduled"), log.counter("dropped")
    return Schedule(
        scheduled=scheduled,
        late=log.counter("late"),
        dropped=dropped,
        achieved_rate=(scheduled - dropped) / point.run_time_s,
    )


def invalid_reasons(
    point: RunPoint,
    log: IntervalLog | None,
    schedule: Schedule | None,
    cpu_warning: bool,
    resources: ResourceUse | None,
    locust_workers: int,
    min_requests: int,
) -> tuple[str, ...]:
    reasons = []
    if isinstance(point.load, OpenLoad):
        reasons += _schedule_reasons(point.load, schedule)
    if cpu_warning:
        reasons.append("Locust warned that its CPU was saturated")
    busy = resources.locust_busy(locust_workers) if resources is not None else None
    if busy is not None and busy >= LOCUST_SATURATED:
        reasons.append(f"Locust used {busy:.0%} of its cores")
    requests = log.whole().requests if log is not None else None
    if requests is not None and requests < min_requests:
        reasons.append(f"{requests} requests in the window, fewer than min_requests {min_requests}")
    return tuple(reasons)


def _schedule_reasons(load: OpenLoad, schedule: Schedule | None) -> list[str]:
    if schedule is None:
        return ["the load generator reported no schedule"]
    reasons = []
    if abs(schedule.achieved_rate - load.rate) > ACHIEVED_RATE_TOLERANCE * load.rate:
        reasons.append(
            f"achieved {schedule.achieved_rate:.4g} arrivals/s of the {load.rate:g} asked"
            f" (more than {ACHIEVED_RATE_TOLERANCE:.0%} off)"
        )
    off_time = schedule.late + schedule.dropped
    if schedule.scheduled and off_time > LATE_OR_DROPPED * schedule.scheduled:
        reasons.append(
            f"{schedule.late} late and {schedule.dropped} dropped of {schedule.scheduled}"
            f" arrivals (over {LATE_OR_DROPPED:.0%})"
        )
    return reasons
