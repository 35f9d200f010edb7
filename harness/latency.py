"""Exact latencies of a run, from what locust/recorder.py wrote (its only reader).

`S.hdr` is an HdrHistogram interval log: one histogram of every request's latency (µs) per
second of the measured window; `S.intervals.csv` counts requests, failures (by kind) and the load
generator's own counters per second. Adding the interval histograms of any time range gives
that range's exact distribution (within the histogram's 3 significant digits).

`Latency` is also what the pages show of a run recorded before exact latencies (schema 1): Locust's
own rounded figures (harness/results.py), with `exact` false.
"""

import csv
import math
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from hdrh.histogram import HdrHistogram

PERCENTILES = {"p50_ms": 50.0, "p90_ms": 90.0, "p95_ms": 95.0, "p99_ms": 99.0, "p999_ms": 99.9}
FAILURE_PREFIX = "failure:"  # the recorder's counters of failures by kind (locust/recorder.py)
WINDOW_LINE = re.compile(r"#\[MeasuredWindow: ([\d.]+) to ([\d.]+)")


class LatencyFileError(ValueError):
    """A latency file that cannot be read; the message names it."""


@dataclass(frozen=True)
class Latency:
    """The requests of one span of time: answered (`requests`, their latencies exact to the
    histogram's precision), failed among them, and, open loop, `lost`: arrivals never answered
    (dropped at max_in_flight, or still out when the run ended), which count as failures."""

    requests: int
    failures: int
    seconds: float
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p999_ms: float | None
    max_ms: float | None
    lost: int = 0
    failure_kinds: dict[str, int] = field(default_factory=dict)  # lost ones included
    good: int | None = None  # met every goodput threshold (locust/goodput.py); None: not counted
    exact: bool = True  # False: Locust's own figures, rounded above 100 ms (schema 1)

    @property
    def rps(self) -> float:
        """Answered requests per second."""
        return self.requests / self.seconds if self.seconds > 0 else 0.0

    @property
    def attempts(self) -> int:
        return self.requests + self.lost

    @property
    def failure_ratio(self) -> float:
        return (self.failures + self.lost) / self.attempts if self.attempts else 0.0

    @property
    def goodput(self) -> float | None:
        """The share of the requests (lost ones included) that were good (locust/goodput.py);
        None where it was not counted (records before schema 3)."""
        if self.good is None or not self.attempts:
            return None
        return self.good / self.attempts


@dataclass(frozen=True)
class Interval:
    start_s: float  # from the start of the measured window
    length_s: float
    encoded: str | None  # the second's histogram, as the log holds it; None: no request ended
    counters: dict[str, int]


@dataclass(frozen=True)
class IntervalLog:
    window_start: float  # seconds since the epoch
    window_s: float
    intervals: list[Interval]

    def span(self, start_s: float, end_s: float) -> Latency:
        """The distribution of the seconds that start in [start_s, end_s) of the window; its
        length is theirs, so a rate over it is exact whatever the boundaries."""
        chosen = self.chosen(start_s, end_s)
        failures = good = 0
        kinds: Counter[str] = Counter()
        for one in chosen:
            failures += one.counters.get("failures", 0)
            good += one.counters.get("good", 0)
            kinds.update(
                {
                    name.removeprefix(FAILURE_PREFIX): count
                    for name, count in one.counters.items()
                    if name.startswith(FAILURE_PREFIX) and count
                }
            )
        merged = merge_encoded(one.encoded for one in chosen)
        counted = any("good" in one.counters for one in chosen)
        latency = summarize(merged, failures, sum(one.length_s for one in chosen), dict(kinds))
        return replace(latency, good=good if counted else None)

    def chosen(self, start_s: float, end_s: float) -> list[Interval]:
        """The seconds that start in [start_s, end_s) of the window."""
        return [one for one in self.intervals if start_s <= one.start_s < end_s]

    def whole(self) -> Latency:
        return self.span(0.0, self.window_s)

    def counter(self, name: str) -> int:
        return sum(one.counters.get(name, 0) for one in self.intervals)


def joined(first: IntervalLog, then: IntervalLog) -> IntervalLog:
    """Two windows of one point as one log, `then`'s seconds after `first`'s: two runs at one
    rate on one stack (a capacity search's last look and the short probe it counts)."""
    later = [replace(one, start_s=one.start_s + first.window_s) for one in then.intervals]
    return IntervalLog(first.window_start, first.window_s + then.window_s, first.intervals + later)


def merge_encoded(encoded: Iterable[str | None]) -> HdrHistogram | None:
    """One histogram of the seconds' (None: a second without a value); None without any."""
    merged: HdrHistogram | None = None
    for one in encoded:
        if one is None:
            continue
        # Each histogram carries its own range and precision: the first sets the merge's.
        histogram = HdrHistogram.decode(one.encode())
        if merged is None:
            merged = histogram
        else:
            merged.add(histogram)
    return merged


def summarize(
    histogram: HdrHistogram | None, failures: int, seconds: float, kinds: dict[str, int]
) -> Latency:
    count = 0 if histogram is None else histogram.get_total_count()
    if histogram is None or count == 0:
        return Latency(
            0, failures, seconds, None, None, None, None, None, None, None, failure_kinds=kinds
        )
    values = nearest_rank_values(histogram, PERCENTILES.values())
    figures = {name: value / 1000 for name, value in zip(PERCENTILES, values, strict=True)}
    return Latency(
        requests=count,
        failures=failures,
        seconds=seconds,
        mean_ms=mean_of(histogram) / 1000,
        max_ms=histogram.get_max_value() / 1000,
        failure_kinds=kinds,
        **figures,
    )


def nearest_rank_values(histogram: HdrHistogram, percentiles: Iterable[float]) -> list[int]:
    """The value at each percentile's nearest rank, ceil(p/100 × count), as a sort of every
    latency gives it. HdrHistogram's own lookup rounds the rank to the nearest count, which is
    one request lower whenever the fraction is under a half: the p99 of 4,899 requests would be
    the 4,850th, not the 4,851st."""
    count = histogram.get_total_count()
    # Rounded first: 99.9 × 1000 is 99899.99999999999 in floating point, and its rank is 999.
    ranks = [max(1, math.ceil(round(percentile * count, 6) / 100)) for percentile in percentiles]
    values, counts = recorded(histogram)
    reached = np.searchsorted(np.cumsum(counts), ranks)  # the first value whose count reaches
    return [int(values[min(at, len(values) - 1)]) for at in reached]


def answered_within(histogram: HdrHistogram | None, latency_ms: float) -> int:
    """How many of the histogram's requests took at most `latency_ms`."""
    if histogram is None:
        return 0
    values, counts = recorded(histogram)
    return int(counts[values <= latency_ms * 1000].sum())


def recorded(histogram: HdrHistogram) -> tuple[np.ndarray, np.ndarray]:
    """The histogram's recorded values, ascending, each its bucket's highest equivalent value
    (µs), as HdrHistogram's recorded iterator gives them, and their counts."""
    lowest, size, counts = _recorded_buckets(histogram)
    return lowest + size - 1, counts


def mean_of(histogram: HdrHistogram) -> float:
    """HdrHistogram's mean (µs): each bucket counted at its middle value."""
    total = histogram.get_total_count()
    if not total:
        return 0.0
    lowest, size, counts = _recorded_buckets(histogram)
    return float((counts * (lowest + (size >> 1))).sum()) / total


def _recorded_buckets(histogram: HdrHistogram) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The buckets that hold a count, ascending: their lowest value, their width and their
    count. Computed over the counts array at once: HdrHistogram's iterator steps through every
    empty bucket in Python, some 10 ms a histogram, and a capacity probe's log is read whole
    every second while it runs."""
    length = min(histogram.counts_len, histogram.encoder.payload.counts_len)
    all_counts = np.ctypeslib.as_array(histogram.counts)[:length]
    index = np.flatnonzero(all_counts)
    half = histogram.sub_bucket_half_count
    bucket = (index >> histogram.sub_bucket_half_count_magnitude) - 1
    sub_bucket = (index & (half - 1)) + half
    first = bucket < 0  # the first bucket holds its lower half too
    sub_bucket[first] -= half
    bucket[first] = 0
    shift = bucket + histogram.unit_magnitude
    return sub_bucket << shift, np.left_shift(1, shift), all_counts[index].astype(np.int64)


def read_interval_log(hdr_path: Path, intervals_path: Path) -> IntervalLog:
    """The two files of one run, joined per second."""
    try:
        hdr_lines = hdr_path.read_text().splitlines()
        with intervals_path.open(newline="") as table:
            rows = list(csv.DictReader(table))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise LatencyFileError(f"{hdr_path}: cannot be read: {error}") from None
    window = next((WINDOW_LINE.match(line) for line in hdr_lines if WINDOW_LINE.match(line)), None)
    if window is None:
        raise LatencyFileError(f"{hdr_path}: no #[MeasuredWindow: ...] line")
    window_start, window_end = float(window.group(1)), float(window.group(2))
    encoded_at = histograms_by_start(hdr_lines)
    intervals = []
    for row in rows:
        start = start_label(float(row.pop("start_s")))
        length = float(row.pop("length_s"))
        counters = {name: int(value) for name, value in row.items()}
        intervals.append(Interval(float(start), length, encoded_at.get(start), counters))
    return IntervalLog(window_start, window_end - window_start, intervals)


def histograms_by_start(hdr_lines: list[str]) -> dict[str, str]:
    """An interval log's encoded histograms by their start in the window (as `start_label`
    writes it): how its lines are joined to the intervals file's."""
    encoded_at: dict[str, str] = {}
    for line in hdr_lines:
        if not line or line.startswith(("#", '"')):
            continue
        start, _length, _max, encoded = line.split(",", 3)
        encoded_at[start_label(float(start))] = encoded
    return encoded_at


def start_label(start_s: float) -> str:
    return f"{start_s:.3f}"
