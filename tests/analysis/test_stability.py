"""The steady-state rule: equal windows of a run, stable when throughput and mean latency each
vary by at most 10% across them, and p95 too where every window has 2,000 requests. Latency logs
are built here with known figures."""

from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram

from harness.latency import read_interval_log
from harness.stability import Window, split, unstable_reason


def write_log(folder: Path, seconds: list[tuple[int, float]]) -> tuple[Path, Path]:
    """A recorder's files for a window of one-second intervals: (requests, latency ms) each."""
    hdr, intervals = folder / "run.hdr", folder / "run.intervals.csv"
    lines = ["#[MeasuredWindow: 1000.000 to %.3f (seconds since epoch)]" % (1000 + len(seconds))]
    rows = ["start_s,length_s,requests,failures"]
    for index, (requests, latency_ms) in enumerate(seconds):
        histogram = HdrHistogram(1, 60_000_000, 3)
        histogram.record_value(round(latency_ms * 1000), requests)
        lines.append(f"{index:.3f},1.000,{latency_ms:.3f},{histogram.encode().decode()}")
        rows.append(f"{index:.3f},1.000,{requests},0")
    hdr.write_text("\n".join(lines) + "\n")
    intervals.write_text("\n".join(rows) + "\n")
    return hdr, intervals


def window(rps: float, p95_ms: float, mean_ms: float = 40.0, requests: int = 2000) -> Window:
    return Window(0.0, 1.0, requests, rps, mean_ms, p95_ms)


def test_windows_split_the_measured_window_equally(tmp_path: Path):
    log = read_interval_log(
        *write_log(tmp_path, [(100, 10.0)] * 3 + [(120, 12.0)] * 3 + [(90, 20.0)] * 3)
    )
    windows = split(log, 3)
    assert [w.start_s for w in windows] == [0.0, 3.0, 6.0]
    assert [w.rps for w in windows] == [100.0, 120.0, 90.0]
    assert [w.p95_ms for w in windows] == pytest.approx([10.0, 12.0, 20.0], rel=1e-3)


def test_the_last_windows_of_a_fixed_length(tmp_path: Path):
    log = read_interval_log(*write_log(tmp_path, [(50, 30.0)] * 4 + [(100, 10.0)] * 6))
    windows = split(log, 3, end_s=10.0, length_s=2.0)
    assert [w.start_s for w in windows] == [4.0, 6.0, 8.0]
    assert {w.rps for w in windows} == {100.0}


def test_within_ten_percent_is_stable():
    assert unstable_reason([window(100, 50), window(109, 54), window(104, 52)]) is None


def test_throughput_varying_more_than_ten_percent_is_unstable():
    reason = unstable_reason([window(100, 50), window(111, 50), window(105, 50)])
    assert reason.startswith("throughput varies 11% across windows")


def test_mean_latency_varying_more_than_ten_percent_is_unstable():
    reason = unstable_reason([window(100, 50, 40.0), window(100, 50, 45.0), window(100, 50, 41.0)])
    assert reason.startswith("mean latency varies 12% across windows")


def test_p95_varying_more_than_ten_percent_is_unstable_on_enough_requests():
    reason = unstable_reason([window(100, 50), window(100, 60), window(100, 52)])
    assert reason.startswith("p95 varies 20% across windows")


def test_a_p95_of_too_few_requests_is_not_judged():
    # 1,999 requests: fewer than 100 beyond the p95, whose windows then differ by chance.
    few = [window(100, 50, requests=1999), window(100, 60), window(100, 52)]
    assert unstable_reason(few) is None


def test_a_window_without_requests_is_unstable():
    assert unstable_reason([window(100, 50), window(0, 50), window(100, 50)]) is not None
