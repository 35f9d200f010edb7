"""A generative run's figures read back from its files once it is over (harness/generation.py
reads them the same way while it runs): per window of its record, the samples a comparison tests
when a point was measured once; per second, its page's stream charts."""

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.generation import GenerationFigures, read_generation
from harness.latency import (
    IntervalLog,
    LatencyFileError,
    histograms_by_start,
    merge_encoded,
    nearest_rank_values,
    read_interval_log,
    start_label,
)
from harness.record.names import GENERATION_SUFFIXES, HDR_SUFFIX, INTERVALS_SUFFIX
from harness.stability import Window

# A second shorter than this is left out of the rates: the window opens and closes within a
# second (the recorder's seconds are the clock's), and a few tokens over a sliver of a second
# would read as a burst, or a lull, that never happened.
WHOLE_SECOND_S = 0.999
TTFT_PERCENTILES = (50.0, 95.0, 99.0)  # StreamSecond's, in its order


@dataclass(frozen=True)
class StreamSecond:
    start_s: float  # from the start of the measured window
    ttft_p50_ms: float | None  # None: no stream succeeded in that second
    ttft_p95_ms: float | None
    ttft_p99_ms: float | None
    whole: bool  # not a partial second at the window's ends (WHOLE_SECOND_S)
    output_tokens_per_s: float | None  # None: a second of no length (a run stopped on its edge)
    streams_in_flight: int | None  # at its end; None: a run recorded before they were counted


def timing_logs(prefix: Path) -> dict[str, Path]:
    """A run's timing logs, by name ("ttft", "itl", "tpot"), beside `prefix` (its stem)."""
    return {name: Path(f"{prefix}{suffix}") for name, suffix in GENERATION_SUFFIXES.items()}


def read_log(prefix: Path) -> IntervalLog | None:
    try:
        return read_interval_log(Path(f"{prefix}{HDR_SUFFIX}"), Path(f"{prefix}{INTERVALS_SUFFIX}"))
    except LatencyFileError:
        return None


def read_windows(prefix: Path, windows: Sequence[Window]) -> list[GenerationFigures]:
    """The figures of each of a run's windows (as its record lists them); empty where the files
    cannot be read, without a window that answered no generative request."""
    log = read_log(prefix)
    if log is None:
        return []
    # A window holds the seconds that start in it: from its start, its seconds reach the next.
    read = [
        read_generation(timing_logs(prefix), log, one.start_s, one.start_s + one.seconds)
        for one in windows
    ]
    return [figures for figures in read if figures is not None]


def stream_seconds(prefix: Path, log: IntervalLog) -> list[StreamSecond]:
    """Each second of the window: its successful streams' TTFT, its output tokens' rate and
    the streams in flight at its end (opened less closed so far: the recorder counts those in
    flight when the window opened as opened in its first second)."""
    path = timing_logs(prefix)["ttft"]
    by_start = histograms_by_start(path.read_text().splitlines()) if path.is_file() else {}
    counted = any("streams_opened" in interval.counters for interval in log.intervals)
    found, in_flight = [], 0
    for interval in log.intervals:
        # Percentiles alone: a histogram's mean walks every bucket, and a run has many seconds.
        histogram = merge_encoded([by_start.get(start_label(interval.start_s))])
        ttft = [None] * len(TTFT_PERCENTILES)
        if histogram is not None and histogram.get_total_count():
            ttft = [value / 1000 for value in nearest_rank_values(histogram, TTFT_PERCENTILES)]
        tokens = interval.counters.get("output_tokens", 0)
        in_flight += interval.counters.get("streams_opened", 0)
        in_flight -= interval.counters.get("streams_closed", 0)
        found.append(
            StreamSecond(
                interval.start_s,
                *ttft,
                whole=interval.length_s >= WHOLE_SECOND_S,
                output_tokens_per_s=tokens / interval.length_s if interval.length_s else None,
                streams_in_flight=in_flight if counted else None,
            )
        )
    return found
