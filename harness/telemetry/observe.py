"""Telemetry around one Locust run: the sampler while it runs (when the matrix's telemetry is
on), then what the run's files say about its measured window (exact latencies always; stages
and resources when sampled)."""

from dataclasses import dataclass, field
from pathlib import Path

from harness.latency import IntervalLog, LatencyFileError, read_interval_log
from harness.matrix import Matrix
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX, RESOURCES_SUFFIX
from harness.stack import Stack
from harness.telemetry.sampler import LastSeen, Sampler
from harness.telemetry.stages import Breakdown, Snapshot, breakdown
from harness.telemetry.summary import ResourceUse, summarize


@dataclass
class Observed:
    log: IntervalLog | None = None  # None: Locust wrote no latency log (telemetry off, or failed)
    stages: Breakdown | None = None
    resources: ResourceUse | None = None
    last_seen: dict[str, LastSeen] = field(default_factory=dict)


class Observer:
    """Start it with Locust's pid, finish it once Locust has stopped."""

    def __init__(self, matrix: Matrix, stack: Stack, prefix: Path, cores: int) -> None:
        self.enabled = matrix.telemetry.enabled
        self.interval_s = matrix.telemetry.interval_s
        self.metrics_url = matrix.stack.metrics_url
        self.stack = stack
        self.prefix = prefix
        self.cores = cores
        self.sampler: Sampler | None = None

    def start(self, locust_pid: int) -> None:
        if not self.enabled:
            return
        self.sampler = Sampler(
            self.stack.members(),
            locust_pid,
            self.metrics_url,
            self.interval_s,
            Path(f"{self.prefix}{RESOURCES_SUFFIX}"),
        )
        self.sampler.start()

    def finish(self) -> Observed:
        sampled = self.sampler.stop() if self.sampler is not None else None
        observed = Observed(last_seen=sampled.last_seen if sampled is not None else {})
        try:
            log = read_interval_log(
                Path(f"{self.prefix}{HDR_SUFFIX}"), Path(f"{self.prefix}{INTERVALS_SUFFIX}")
            )
        except (LatencyFileError, FileNotFoundError):
            return observed
        observed.log = log
        if sampled is None:
            return observed
        start_s = log.window_start - sampled.started_at
        observed.resources = summarize(
            Path(f"{self.prefix}{RESOURCES_SUFFIX}"),
            start_s,
            start_s + log.window_s,
            self.interval_s,
            self.cores,
        )
        observed.stages = _window_breakdown(sampled.snapshots, log.window_start)
        return observed


def _window_breakdown(
    snapshots: list[tuple[float, Snapshot]], window_start: float
) -> Breakdown | None:
    """From the last reading at or before the window opened to the one after the run."""
    if len(snapshots) < 2:
        return None
    before = [snapshot for taken, snapshot in snapshots if taken <= window_start]
    first = before[-1] if before else snapshots[0][1]
    return breakdown(first, snapshots[-1][1])
