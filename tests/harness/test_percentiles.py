"""A run's percentiles are the nearest rank of every latency it recorded, as sorting them gives."""

import random

from hdrh.histogram import HdrHistogram

from harness.latency import (
    PERCENTILES,
    answered_within,
    mean_of,
    merge_encoded,
    recorded,
    summarize,
)


def test_percentiles_are_the_nearest_rank_of_the_sorted_latencies():
    # 4,899 requests: 99 % of them is 4,850.01, so the p99 is the 4,851st. HdrHistogram's own
    # lookup rounds that rank to 4,850 and reads one request too low.
    # Each 0.2 % above the last, so that neighbours fall in different buckets of the histogram.
    latencies_us = [round(1_000 * 1.002**k) for k in range(4_899)]
    random.Random(7).shuffle(latencies_us)
    assert len(latencies_us) == 4_899
    histogram = HdrHistogram(1, 60_000_000, 3)
    for value in latencies_us:
        histogram.record_value(value)
    latency = summarize(histogram, failures=0, seconds=1.0, kinds={})
    ordered = sorted(latencies_us)
    for name, percentile in PERCENTILES.items():
        rank = -(-round(percentile * 10) * len(ordered) // 1000)  # ceil(p/100 × n)
        exact = histogram.get_highest_equivalent_value(ordered[rank - 1])
        assert getattr(latency, name) == exact / 1000, name


def test_the_buckets_read_at_once_are_those_hdrhistograms_own_iterator_walks():
    # The latencies are read over the counts array at once (harness/latency.py), not by the
    # library's iterator: the same values, counts, mean and count within a threshold, on
    # histograms decoded and merged as the run's log gives them, from 1 µs to a minute.
    draw = random.Random(11)
    for _ in range(60):
        encoded = []
        for _ in range(draw.randint(1, 3)):
            histogram = HdrHistogram(1, 60_000_000, 3)
            for _ in range(draw.randint(1, 800)):
                value = round(draw.lognormvariate(draw.uniform(0, 14), 1.5))
                histogram.record_value(min(max(value, 1), 60_000_000))
            encoded.append(histogram.encode().decode())
        merged = merge_encoded(encoded)
        walked = [
            (item.value_iterated_to, item.count_at_value_iterated_to)
            for item in merged.get_recorded_iterator()
        ]
        values, counts = recorded(merged)
        assert list(zip(values.tolist(), counts.tolist(), strict=True)) == walked
        assert mean_of(merged) == merged.get_mean_value()
        threshold_ms = draw.choice([0.001, 0.5, 20.0, 100.0, 60_000.0])
        assert answered_within(merged, threshold_ms) == sum(
            count for value, count in walked if value <= threshold_ms * 1000
        )
