"""Whether a run counts: a run whose load generator could not do what was asked measures the
generator, not the stack. An invalid run is listed with its reasons and feeds no conclusion.

Open loop (as MLPerf's server scenario and perf_analyzer's request-rate mode judge it): the
arrivals issued within ACHIEVED_RATE_TOLERANCE of those the schedule had due, and
at most LATE of them sent late (more than locust/openloop.py's LATE_MS after their time: a
latency counts from the scheduled time, so a few late sends only add their delay to what is
measured; past LATE, the generator has fallen behind). An arrival dropped because max_in_flight
requests were out, while the generator sent on time with CPU to spare (under SPARE of its
cores), is the stack's doing: it did not keep up, which is a result (failures of the run's
requests), not an invalid run; drops beyond DROPPED while the generator was busier may be its
own, and make the run invalid. Both kinds: Locust did not warn that its CPU was saturated nor
ran at LOCUST_SATURATED of its cores, and the window holds `min_requests` requests (answered or
lost).
"""

from dataclasses import replace

from harness.latency import IntervalLog, Latency
from harness.matrix import RunPoint
from harness.record import Schedule
from harness.record.parts import LOCUST_SATURATED, ResourceUse
from harness.run.open_loop import due_by

ACHIEVED_RATE_TOLERANCE = 0.03
LATE = 0.05
SPARE = 0.75  # Locust under this share of its cores had CPU to spare
DROPPED = 0.01
DROPPED_KIND = "dropped: max_in_flight requests out"
UNANSWERED_KIND = "no answer before the run ended"


def schedule_of(point: RunPoint, log: IntervalLog | None) -> Schedule | None:
    """What an open-loop run's generator did of its schedule: the arrivals it issued over the
    schedule's length, or the window's where the run was stopped sooner, against those due."""
    if not point.opened or log is None:
        return None
    scheduled, dropped = log.counter("scheduled"), log.counter("dropped")
    answered = log.whole().requests
    seconds = min(point.run_time_s, log.window_s) if log.window_s > 0 else point.run_time_s
    return Schedule(
        scheduled=scheduled,
        late=log.counter("late"),
        dropped=dropped,
        achieved_rate=scheduled / seconds if seconds > 0 else 0.0,
        unanswered=max(0, scheduled - dropped - answered),
        due=due_by(point.load, point.run_time_s, seconds),
    )


def with_lost(latency: Latency, schedule: Schedule | None) -> Latency:
    """The open loop's arrivals that never got an answer, counted as failures of their kind."""
    if schedule is None or not (schedule.dropped or schedule.unanswered):
        return latency
    kinds = dict(latency.failure_kinds)
    for kind, count in ((DROPPED_KIND, schedule.dropped), (UNANSWERED_KIND, schedule.unanswered)):
        if count:
            kinds[kind] = kinds.get(kind, 0) + count
    lost = schedule.dropped + schedule.unanswered
    return replace(latency, lost=lost, failure_kinds=kinds)


def invalid_reasons(
    point: RunPoint,
    latency: Latency | None,
    schedule: Schedule | None,
    cpu_warning: bool,
    resources: ResourceUse | None,
    locust_workers: int,
    min_requests: int,
) -> tuple[str, ...]:
    reasons = []
    busy = resources.locust_busy(locust_workers) if resources is not None else None
    if point.opened:
        reasons += _schedule_reasons(schedule, busy)
    if cpu_warning:
        reasons.append("Locust warned that its CPU was saturated")
    if busy is not None and busy >= LOCUST_SATURATED:
        reasons.append(f"Locust used {busy:.0%} of its cores")
    if latency is not None and latency.attempts < min_requests:
        reasons.append(
            f"{latency.attempts} requests in the window, fewer than min_requests {min_requests}"
        )
    return tuple(reasons)


def _schedule_reasons(schedule: Schedule | None, busy: float | None) -> list[str]:
    if schedule is None:
        return ["the load generator reported no schedule"]
    reasons = []
    spare = busy is not None and busy < SPARE
    if schedule.scheduled and schedule.dropped > DROPPED * schedule.scheduled and not spare:
        held = "unmeasured" if busy is None else f"{busy:.0%} of its cores"
        reasons.append(
            f"{schedule.dropped} of {schedule.scheduled} arrivals dropped at max_in_flight"
            f" while Locust used {held}: the load generator may have held them, not the stack"
        )
    if abs(schedule.scheduled - schedule.due) > ACHIEVED_RATE_TOLERANCE * schedule.due:
        reasons.append(
            f"issued {schedule.scheduled} arrivals of the {schedule.due} due"
            f" (more than {ACHIEVED_RATE_TOLERANCE:.0%} off)"
        )
    if schedule.scheduled and schedule.late > LATE * schedule.scheduled:
        reasons.append(
            f"the load generator fell behind: {schedule.late} of {schedule.scheduled} arrivals"
            f" sent late (over {LATE:.0%})"
        )
    return reasons
