"""One quantity's exact values per second of the measured window, written as an HdrHistogram
interval log: the recorder (locust/recorder.py) keeps one for every request's latency and, for
generative requests, one each for TTFT, ITL and TPOT. Values in microseconds, 1 µs to 60 s,
3 significant digits; the log is HdrHistogram's standard text form, one line per second:
`start,length,max,encoded histogram`.
"""

import os
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TextIO

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 60_000_000
SIGNIFICANT_DIGITS = 3


def new_histogram() -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)


class SecondHistograms:
    """A histogram per second (seconds since the epoch, floored)."""

    def __init__(self) -> None:
        self.by_second: dict[int, HdrHistogram] = {}
        # Each finished second's line of the log, encoded once: the files are brought up to
        # date every few seconds in the load generator's own loop, which must not stall on
        # encoding the whole run again.
        self.lines: dict[int, str] = {}

    def clear(self) -> None:
        self.by_second.clear()
        self.lines.clear()

    def _at(self, second: int) -> HdrHistogram:
        histogram = self.by_second.get(second)
        if histogram is None:
            histogram = self.by_second[second] = new_histogram()
        return histogram

    def record(self, second: int, milliseconds: float) -> None:
        microseconds = min(max(round(milliseconds * 1000), LOWEST_US), HIGHEST_US)
        self._at(second).record_value(microseconds)

    def take(self, second: int) -> str | None:
        """The second's histogram, encoded for the master, and gone from here."""
        histogram = self.by_second.pop(second, None)
        return histogram.encode().decode() if histogram is not None else None

    def add(self, second: int, encoded: str) -> None:
        self._at(second).decode_and_add(encoded)

    def write(self, path: str, seconds: list[int], start: float, end: float) -> None:
        """The log of these seconds of the window [start, end)."""
        with replaced(path) as log:
            log.write("#[Histogram log format version 1.2]\n")
            log.write(f"#[StartTime: {start:.3f} (seconds since epoch), {_iso(start)}]\n")
            log.write(f"#[MeasuredWindow: {start:.3f} to {end:.3f} (seconds since epoch)]\n")
            log.write(
                '"StartTimestamp","Interval_Length","Interval_Max","Interval_Compressed_Histogram"\n'
            )
            for second in seconds:
                line = self.lines.get(second)
                if line is None:
                    line = self._line(second, start, end)
                    if second + 1 <= end:  # whole, and every report of it is in
                        self.lines[second] = line
                log.write(line)

    def _line(self, second: int, start: float, end: float) -> str:
        histogram = self.by_second.get(second)
        if histogram is None or histogram.get_total_count() == 0:
            return ""
        begins, ends = max(second, start), min(second + 1, end)
        return (
            f"{begins - start:.3f},{ends - begins:.3f},"
            f"{histogram.get_max_value() / 1000:.3f},{histogram.encode().decode()}\n"
        )


@contextmanager
def replaced(path: str) -> Iterator[TextIO]:
    """Written beside, then renamed over: a reader never sees half a file."""
    partial = f"{path}.partial"
    with open(partial, "w", newline="") as handle:
        yield handle
    os.replace(partial, path)


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds")
