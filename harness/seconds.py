"""A run second by second, from the recorder's interval log (harness/latency.py): what was offered
and answered, its latency percentiles, its failures, late and dropped arrivals, and the requests
outstanding; and, where the load rose during the run (a shape), how each rise played out.

A rise's wake is read two ways (docs/load.md, "The wake of each rise"):
- its drain, from the queue itself: when the requests outstanding (the client's view; and the
  stack's own queue, where it exports one) were back to their level before the rise. A queue's
  depth is a level, not a sample of a distribution: it falls to its old level once the backlog
  is served, and per-second noise barely moves it.
- when p95 was back: judged on a window of at least P95_WINDOW_REQUESTS requests and P95_WINDOW_S
  seconds, sliding second by second, against the p95 before the rise with a tolerance the size of
  a p95's sampling error over that many requests. A p95 of one second (some 40 requests) jumps
  over any fixed band at random, long after the queue is empty.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import fmean

from harness.latency import IntervalLog, merge_encoded, nearest_rank_values

BEFORE_S = 5.0  # the seconds before a rise its figures are compared with (at least)
SETTLED_S = 2.0  # a level must stay back this long to count as back
# Drained: within max(DRAIN_SLACK, DRAIN_SHARE of it) of the mean level before the rise.
DRAIN_SLACK = 3.0
DRAIN_SHARE = 0.10
# A p95 is judged on at least this many requests and seconds, whichever is longer.
P95_WINDOW_REQUESTS = 200
P95_WINDOW_S = 5.0
# Back: the window's p95 and the one before could be the same p95. A p95 measured over n requests
# is the quantile 0.95 ± sqrt(0.95 × 0.05 / n) of its distribution (the binomial sampling error
# of its rank); the window is back when its quantile P95_Z errors below 0.95 is at most the
# before's quantile P95_Z errors above it. P95_Z is one-sided 0.1%, not 5%: a queue's latencies
# come in bursts (a second of 54 arrivals where 40 are due waits longer for all of them), so its
# requests are not independent draws and the binomial error understates the real one.
P95_Z = 3.09
P95_LEVEL = 0.95
HIGHEST_LEVEL = 0.999
DRAIN_SCHEMA = 7  # the record's version from which a rise's drain is recorded


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
    length_s: float = 1.0  # the window's first and last seconds are partial

    @property
    def end_s(self) -> float:
        return self.start_s + self.length_s


@dataclass(frozen=True)
class PhaseChange:
    """One rise of the load during a run, and its wake (until the next rise, or the run's end)."""

    at_s: float  # when the load began to change, from the window's start
    before: float  # the rate (or users) before it
    after: float  # and after it
    p95_before_ms: float | None  # of the requests answered before the change (BEFORE_S at least)
    back_s: float | None  # until p95 was back (the module's rule); None: not in the run
    peak_outstanding: int | None  # open loop: the most requests outstanding in the wake
    # Until the requests outstanding were back to their level before the change and stayed; None:
    # not in the run (or a closed loop, which has no outstanding arrivals; or a record before 7).
    drain_s: float | None = None
    # The same, on the stack's own queue depth (S.stack.csv); None: the stack exports none.
    queue_drained_s: float | None = None


def seconds_of(log: IntervalLog, opened: bool) -> list[Second]:
    found, sent, answered = [], 0, 0
    for interval in log.intervals:
        # Percentiles alone: a histogram's mean walks every bucket, and a run has many seconds.
        histogram = merge_encoded([interval.encoded])
        requests = 0 if histogram is None else histogram.get_total_count()
        percentiles = [None] * 3
        if requests:
            percentiles = [value / 1000 for value in nearest_rank_values(histogram, (50, 95, 99))]
        counters = interval.counters
        sent += counters.get("scheduled", 0) - counters.get("dropped", 0)
        answered += requests
        found.append(
            Second(
                interval.start_s,
                requests,
                counters.get("failures", 0),
                counters.get("good", 0),
                counters.get("scheduled", 0),
                counters.get("late", 0),
                counters.get("dropped", 0),
                *percentiles,
                outstanding=max(0, sent - answered) if opened else None,
                length_s=interval.length_s,
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


def fell_at(phases: tuple[tuple[float, float, float], ...], at_s: float) -> float | None:
    """When the load first began to fall after `at_s` (a spike's end); None: it never did."""
    return next(
        (when for when, before, after in changes(phases) if when > at_s and after < before), None
    )


def phase_changes(
    log: IntervalLog,
    seconds: list[Second],
    phases: tuple[tuple[float, float, float], ...],
    queue_depth: Sequence[tuple[float, float]] = (),
    slo_p95_ms: float | None = None,
) -> tuple[PhaseChange, ...]:
    """Each rise's wake; `queue_depth` is the stack's own (seconds from the window's start,
    depth), `slo_p95_ms` what p95 is judged against where there is nothing before a rise."""
    rises = [(at_s, before, after) for at_s, before, after in changes(phases) if after > before]
    # A fall's wake is the rise's before it: the queue a rise left drains after the fall.
    ends = [at_s for at_s, _, _ in rises[1:]] + [math.inf]
    outstanding = [(one.end_s, one.outstanding) for one in seconds if one.outstanding is not None]
    found = []
    for (at_s, before, after), end_s in zip(rises, ends, strict=True):
        wake = [level for when, level in outstanding if at_s <= when < end_s]
        p95_before, limit_ms = _p95_before(log, seconds, at_s, slo_p95_ms)
        found.append(
            PhaseChange(
                at_s=at_s,
                before=before,
                after=after,
                p95_before_ms=p95_before,
                back_s=_back(log, seconds, at_s, end_s, limit_ms),
                peak_outstanding=max(wake) if wake else None,
                drain_s=drained(outstanding, at_s, end_s),
                queue_drained_s=drained(queue_depth, at_s, end_s),
            )
        )
    return tuple(found)


def drained(levels: Sequence[tuple[float, float]], at_s: float, end_s: float) -> float | None:
    """Seconds from `at_s` until a level (its samples: when, value) fell back, after its peak in
    [at_s, end_s), to within max(DRAIN_SLACK, DRAIN_SHARE) of its mean over the BEFORE_S seconds
    before `at_s` and stayed there SETTLED_S; the crossing is interpolated between samples. 0: it
    never left; None: no samples before, or not back within the wake.

    "Stayed there" is judged by the same slack over the highest sample before, not the mean: a
    queue that is back wanders as it did before the rise (a Poisson second of 5 outstanding
    where the mean was 1), and a sample of that wander is no backlog; one that climbs past where
    the level ever went before is."""
    before = [level for when, level in levels if at_s - BEFORE_S <= when < at_s]
    wake = [(when, level) for when, level in levels if at_s <= when < end_s]
    if not before or not wake:
        return None
    usual, highest = fmean(before), max(before)
    limit = usual + max(DRAIN_SLACK, DRAIN_SHARE * usual)
    wander = highest + max(DRAIN_SLACK, DRAIN_SHARE * highest)
    peak = max(range(len(wake)), key=lambda index: wake[index][1])
    if wake[peak][1] <= limit:
        return 0.0
    for index in range(peak + 1, len(wake)):
        when, level = wake[index]
        following = [later for later in wake[index:] if later[0] <= when + SETTLED_S]
        # Seen SETTLED_S on, give or take half a reading (the metrics reader's come every ~1.01 s).
        stays = wake[-1][0] >= when + SETTLED_S - 0.5 and all(
            later <= wander for _, later in following
        )
        if level <= limit and stays:
            was_when, was = wake[index - 1]
            crossed = was_when + (when - was_when) * (was - limit) / (was - level)
            return crossed - at_s
    return None


def _p95_before(
    log: IntervalLog, seconds: list[Second], at_s: float, slo_p95_ms: float | None
) -> tuple[float | None, float | None]:
    """The p95 of the seconds wholly before the change (BEFORE_S at least, and back until
    P95_WINDOW_REQUESTS were answered), and the limit a window is back under: the before's
    quantile P95_Z sampling errors above its p95. Nothing answered before: the SLO's p95 (and no
    p95 before)."""
    earlier = [one for one in seconds if one.end_s <= at_s + 1e-6]
    chosen = []
    for one in reversed(earlier):
        chosen.append(one)
        if (
            at_s - one.start_s >= BEFORE_S
            and sum(s.requests for s in chosen) >= P95_WINDOW_REQUESTS
        ):
            break
    histogram = merge_encoded(_encoded(log, chosen))
    count = 0 if histogram is None else histogram.get_total_count()
    if not count:
        return None, slo_p95_ms
    p95, limit = nearest_rank_values(histogram, (100 * P95_LEVEL, 100 * _level(count, +1)))
    return p95 / 1000, limit / 1000


def _back(
    log: IntervalLog, seconds: list[Second], at_s: float, end_s: float, limit_ms: float | None
) -> float | None:
    """Seconds from the change until the window starting at a second (P95_WINDOW_S and
    P95_WINDOW_REQUESTS at least) was back under `limit_ms`, and the window starting at each
    second of the SETTLED_S after it too; None: not within the wake."""
    if limit_ms is None:
        return None
    after = [one for one in seconds if at_s <= one.start_s < end_s]
    judged: dict[int, float | None] = {}  # each window once, as the search reaches it
    for index, one in enumerate(after):
        settled = [
            later
            for later in range(index, len(after))
            if after[later].start_s < one.start_s + SETTLED_S
        ]
        for later in settled:
            if later not in judged:
                judged[later] = _window_low_p95(log, after[later:])
        p95s = [judged[later] for later in settled]
        if len(p95s) >= SETTLED_S and all(p95 is not None and p95 <= limit_ms for p95 in p95s):
            return one.start_s - at_s
        if judged[index] is None:
            return None  # this window and every later one run past the wake
    return None


def _window_low_p95(log: IntervalLog, following: list[Second]) -> float | None:
    """The quantile P95_Z sampling errors below the p95 of the window that opens with
    following[0]; None: the wake ends before the window fills."""
    for end in range(len(following)):
        window = following[: end + 1]
        long_enough = window[-1].end_s - window[0].start_s >= P95_WINDOW_S - 1e-6
        if long_enough and sum(one.requests for one in window) >= P95_WINDOW_REQUESTS:
            histogram = merge_encoded(_encoded(log, window))
            level = _level(histogram.get_total_count(), -1)
            return nearest_rank_values(histogram, (100 * level,))[0] / 1000
    return None


def _level(count: float, side: int) -> float:
    """The quantile P95_Z sampling errors above (side +1) or below (-1) the p95 of `count`."""
    error = math.sqrt(P95_LEVEL * (1 - P95_LEVEL) / count)
    return min(HIGHEST_LEVEL, P95_LEVEL + side * P95_Z * error)


def _encoded(log: IntervalLog, chosen: list[Second]) -> list[str | None]:
    starts = {one.start_s for one in chosen}
    return [interval.encoded for interval in log.intervals if interval.start_s in starts]
