"""What the capacity search may conclude from its probes: a verdict the requests support, the
monotone curve through the probes so far, and where a ramp's latency turned upward.

The verdict. A p95 from n requests is a sample's: the share of requests answered within the SLO's
latency, m of n, estimates the true share s, and the p95 is within the SLO exactly when s ≥ 0.95.
The k-th smallest of n latencies is an upper bound on the true 95th percentile with confidence
1 − α when P(Binom(n, 0.95) < k) ≥ 1 − α (an order-statistic bound; MLPerf LoadGen's minimum
query counts come from the same reasoning), and the j-th a lower bound when P(Binom(n, 0.95) ≥ j)
≥ 1 − α. Whether either bound is on the SLO's side of its latency needs only m: the upper bound
is within the SLO when P(Binom(n, 0.95) < m) ≥ 1 − α, the lower bound over it when
P(Binom(n, 0.95) > m) ≥ 1 − α. Goodput is the same test of the good share against min_goodput.
A request that failed or was never answered is not within the SLO. The binomial takes the
requests as independent; a queue's are not (one long busy period delays many): near the capacity
the share good varies from one second to the next 2 to 90 times as much as independent requests
would make it vary (the real stack and the stand-ins, by batch means over the seconds). A
probe's verdict is therefore the bound on as many requests as that design effect leaves
(`settled_together`), at CONFIDENCE. While a probe runs, the bound on its requests as counted
stops it early, after at least SETTLE_S seconds and with a margin on the SLO's latency
(harness/verdict.py); a probe left unsure runs its whole length. There, the bound at
UNSURE_CONFIDENCE on its requests as counted decides which way it leans: within the SLO only where
its upper bound is, more likely than not by a margin (a p95 exactly at the SLO is called outside);
at 75 % the search landed 12 % under an M/D/1 of 40 ms. Its own p95 would not do: a window of a few
hundred requests mostly misses the long busy periods that make a queue's long-run tail, so its p95
reads low near the capacity (an M/D/1 of 40 ms: 99 ms at 10.5 req/s, whose p95 over 3,000 s is over
100 ms from 9.5), and the search would land 10 % high.

The curve. The share of requests over the SLO grows with the rate: the probes' shares (weighted by
their requests), made monotone by pooling adjacent violators (isotonic regression), then joined
by a monotone cubic (PCHIP), meet the SLO's share where the search probes next and where the
capacity is read, as AIPerf and `vllm bench sweep serve_sla` do with p95 itself.
"""

from collections.abc import Sequence

from scipy.interpolate import PchipInterpolator
from scipy.optimize import brentq
from scipy.stats import binom

from harness.latency import IntervalLog, answered_within, merge_encoded

CONFIDENCE = 0.95
UNSURE_CONFIDENCE = 0.6
SETTLE_S = 3.0  # no verdict before this much of a probe: its first seconds hold its warm start
MIN_SECONDS = 5  # seconds of requests for their spread to say how they vary together
INSIDE, OUTSIDE = "inside", "outside"


def settled(good: int, attempts: int, share: float, confidence: float = CONFIDENCE) -> str | None:
    """INSIDE when the requests show, at `confidence`, that at least `share` of all would be
    good; OUTSIDE when they show fewer would; None while they cannot tell."""
    if attempts <= 0:
        return None
    if binom.cdf(good - 1, attempts, share) >= confidence:
        return INSIDE
    if binom.sf(good, attempts, share) >= confidence:
        return OUTSIDE
    return None


def can_lean_inside(attempts: int, share: float, confidence: float = UNSURE_CONFIDENCE) -> bool:
    """Whether `attempts` requests, every one good, would show at `confidence` that `share` of
    all would be (fewer than 18 at 95 % and 60 % never can: too few to lean either way)."""
    return settled(attempts, attempts, share, confidence) == INSIDE


def good_so_far(log: IntervalLog, latency_ms: float | None) -> tuple[int, int]:
    """(good, attempts) of the log's requests: good within `latency_ms` (None: by the
    recorder's goodput counter), attempts counting the arrivals dropped as failures."""
    whole = log.whole()
    attempts = whole.requests + log.counter("dropped")
    if latency_ms is None:
        return (whole.good or 0), attempts
    histogram = merge_encoded(one.encoded for one in log.intervals)
    # A failed request's latency says nothing good: it counts as over the SLO.
    return max(0, answered_within(histogram, latency_ms) - whole.failures), attempts


def good_by_second(log: IntervalLog, latency_ms: float | None) -> list[tuple[int, int]]:
    """Each second's (good, attempts), counted as good_so_far counts the whole."""
    seconds = []
    for one in log.intervals:
        failures = one.counters.get("failures", 0)
        histogram = merge_encoded([one.encoded])
        answered = 0 if histogram is None else histogram.get_total_count()
        if latency_ms is None:
            good = one.counters.get("good", 0)
        else:
            good = max(0, answered_within(histogram, latency_ms) - failures)
        seconds.append((good, answered + one.counters.get("dropped", 0)))
    return seconds


def design_effect(seconds: Sequence[tuple[int, int]]) -> float:
    """How many times the variance of the good share, estimated from how it varies from one
    second to the next (batch means, as a ratio over the seconds), exceeds what independent
    requests would give it (Kish's design effect); 1 at least, and 1 with fewer than
    MIN_SECONDS seconds of requests or a share of 0 or 1, where it cannot be told."""
    counted = [(good, attempts) for good, attempts in seconds if attempts]
    attempts = sum(attempts for _, attempts in counted)
    good = sum(good for good, _ in counted)
    if len(counted) < MIN_SECONDS or good in (0, attempts):
        return 1.0
    share = good / attempts
    spread = sum((g - share * a) ** 2 for g, a in counted) * len(counted) / (len(counted) - 1)
    return max(1.0, spread / (share * (1 - share) * attempts))


def settled_together(
    seconds: Sequence[tuple[int, int]], share: float, confidence: float = CONFIDENCE
) -> str | None:
    """settled() for requests that come in seconds which vary together (a queue's busy
    period delays many): on as many independent requests as their design effect leaves."""
    good = sum(good for good, _ in seconds)
    attempts = sum(attempts for _, attempts in seconds)
    effective = max(1, round(attempts / design_effect(seconds))) if attempts else 0
    return settled(
        round(good * effective / attempts) if attempts else 0, effective, share, confidence
    )


def pooled(values: Sequence[float], weights: Sequence[float]) -> list[float]:
    """The non-decreasing sequence nearest `values` by weighted least squares (pool adjacent
    violators)."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for value, weight in zip(values, weights, strict=True):
        blocks.append([value, weight, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            value2, weight2, count2 = blocks.pop()
            value1, weight1, count1 = blocks.pop()
            total = weight1 + weight2
            blocks.append([(value1 * weight1 + value2 * weight2) / total, total, count1 + count2])
    return [mean for mean, _, count in blocks for _ in range(int(count))]


def crossing(
    rates: Sequence[float], over: Sequence[float], weights: Sequence[float], level: float
) -> float | None:
    """Where the monotone curve through (rate, share over the SLO) meets `level`, between the
    highest rate under it and the lowest above; None when the fit does not cross it there."""
    order = sorted(range(len(rates)), key=rates.__getitem__)
    xs, ys, ws = [], [], []
    for index in order:  # probes at one rate: one point, their requests pooled
        if xs and rates[index] == xs[-1]:
            total = ws[-1] + weights[index]
            ys[-1] = (ys[-1] * ws[-1] + over[index] * weights[index]) / total
            ws[-1] = total
        else:
            xs.append(rates[index])
            ys.append(over[index])
            ws.append(weights[index])
    fitted = pooled(ys, ws)
    below = [i for i, y in enumerate(fitted) if y <= level]
    above = [i for i, y in enumerate(fitted) if y > level]
    if not below or not above or below[-1] + 1 != above[0]:
        return None
    if len(xs) == 2:
        low, high = below[-1], above[0]
        share = (level - fitted[low]) / (fitted[high] - fitted[low])
        return xs[low] + share * (xs[high] - xs[low])
    curve = PchipInterpolator(xs, fitted)
    return float(brentq(lambda rate: curve(rate) - level, xs[below[-1]], xs[above[0]]))


def ramp_turn(log: IntervalLog, rate_at: "RateAt", slo_ms: float) -> float | None:
    """The rate of a ramp's first second whose p95 broke the SLO and whose later seconds did
    too (a queue that has turned upward stays up); None when no second after it stayed under."""
    turned = None
    for interval in log.intervals:
        p95 = log.span(interval.start_s, interval.start_s + interval.length_s).p95_ms
        if p95 is None:
            continue
        if p95 > slo_ms:
            turned = turned if turned is not None else rate_at(interval.start_s)
        else:
            turned = None
    return turned


class RateAt:
    """A linear ramp's rate at a second of its measured window."""

    def __init__(self, low: float, high: float, seconds: float) -> None:
        self.low, self.high, self.seconds = low, high, seconds

    def __call__(self, start_s: float) -> float:
        middle = min(start_s + 0.5, self.seconds)
        return self.low + (self.high - self.low) * middle / self.seconds
