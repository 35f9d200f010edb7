"""A run's percentiles are the nearest rank of every latency it recorded, as sorting them gives."""

import random

from hdrh.histogram import HdrHistogram

from harness.latency import PERCENTILES, summarize


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
