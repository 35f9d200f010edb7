"""A run second by second, from the recorder's interval log (harness/latency.py): what was offered
and answered, its latency percentiles, its failures, late and dropped arrivals, and the requests
outstanding; and, where the load rose during the run (a shape), how each rise played out: the p95
before it, how long until p95 was back within BACK_WITHIN of that (through the rise and the drain
of the queue it left), and the most requests outstanding meanwhile (a queue's depth, seen from the
client)."""

from dataclasses import dataclass

from harness.latency import IntervalLog

BACK_WITHIN = 0.10  # p95 back within 10% of its value before the change
BEFORE_S = 5.0  # the seconds before a change whose p95 it is compared with
SETTLED_S = 2.0  # p95 must stay back this long to count as back


@dataclass(frozen=True)
class Second:
    start_s: float
    requests: int  # answered
    failures: int
    good: int  # met every goodput threshold (locust/goodput.py)
    scheduled: int  # open loop: arrivals due this second
    late: int
    dropped: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    outstanding: int | None  # open loop: arrivals sent and not yet answered, at its end


@dataclass(frozen=True)
class PhaseChange:
    """One rise of the load during a run, and its wake."""

    at_s: float  # when the load began to change, from the window's start
    before: float  # the rate (or users) before it
    after: float  # and after it
    p95_before_ms: float | None  # over the BEFORE_S seconds before the change
    back_s: float | None  # until p95 was back within BACK_WITHIN of it; None: not in the run
    peak_outstanding: int | None  # the most requests outstanding from the change until then


def seconds_of(log: IntervalLog, opened: bool) -> list[Second]:
    found, sent, answered = [], 0, 0
    for interval in log.intervals:
        one = log.span(interval.start_s, interval.start_s + 1e-6)
        counters = interval.counters
        sent += counters.get("scheduled", 0) - counters.get("dropped", 0)
        answered += one.requests
        found.append(
            Second(
                start_s=interval.start_s,
                requests=one.requests,
                failures=one.failures,
                good=counters.get("good", 0),
                scheduled=counters.get("scheduled", 0),
                late=counters.get("late", 0),
                dropped=counters.get("dropped", 0),
                p50_ms=one.p50_ms,
                p95_ms=one.p95_ms,
                p99_ms=one.p99_ms,
                outstanding=max(0, sent - answered) if opened else None,
            )
        )
    return found


def changes(phases: tuple[tuple[float, float, float], ...]) -> list[tuple[float, float, float]]:
    """Where a shape's load begins to change: (when, from, to)."""
    found, start, before = [], 0.0, phases[0][0]
    for value, ramp, hold in phases:
        if value != before:
            found.append((start, before, value))
        start += ramp + hold
        before = value
    return found


def phase_changes(
    log: IntervalLog, seconds: list[Second], phases: tuple[tuple[float, float, float], ...]
) -> tuple[PhaseChange, ...]:
    found = []
    for at_s, before, after in changes(phases):
        if after <= before:
            # A fall's wake is the rise's before it: p95 comes back to its level from before that
            # rise once the queue the rise left has drained, which the rise's figures say.
            continue
        # The seconds wholly before the change (each interval lasts up to a second).
        p95_before = log.span(max(0.0, at_s - BEFORE_S), at_s - 1 + 1e-6).p95_ms
        back_s = _back(seconds, at_s, p95_before)
        until = at_s + back_s if back_s is not None else float("inf")
        waiting = [
            one.outstanding
            for one in seconds
            if at_s <= one.start_s <= until and one.outstanding is not None
        ]
        found.append(
            PhaseChange(at_s, before, after, p95_before, back_s, max(waiting) if waiting else None)
        )
    return tuple(found)


def _back(seconds: list[Second], at_s: float, p95_before: float | None) -> float | None:
    """Seconds from the change until p95 stays within BACK_WITHIN of its value before it."""
    if p95_before is None:
        return None
    limit = (1 + BACK_WITHIN) * p95_before
    after = [one for one in seconds if one.start_s >= at_s and one.p95_ms is not None]
    for index, one in enumerate(after):
        settled = [later for later in after[index:] if later.start_s < one.start_s + SETTLED_S]
        if all(later.p95_ms <= limit for later in settled) and len(settled) >= SETTLED_S:
            return one.start_s - at_s
    return None
