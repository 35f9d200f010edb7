"""What the recorder (locust/recorder.py) has written of a run so far, from the run's file prefix:
read while the run lasts (to stop it once it has measured enough) and after (its figures)."""

from pathlib import Path

from harness.latency import IntervalLog, LatencyFileError, read_interval_log
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX


def log_so_far(prefix: Path) -> IntervalLog | None:
    """The run's latencies as far as written; None before the recorder's first write."""
    try:
        return read_interval_log(Path(f"{prefix}{HDR_SUFFIX}"), Path(f"{prefix}{INTERVALS_SUFFIX}"))
    except (LatencyFileError, FileNotFoundError, ValueError):
        return None
