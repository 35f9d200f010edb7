"""Telemetry around one Locust run: the sampler and the metrics reader while it runs (when the
matrix's telemetry is on), then what the run's files say about its measured window (exact
latencies always; stages and resources when sampled)."""

from dataclasses import dataclass, field
from pathlib import Path

from harness.latency import IntervalLog, LatencyFileError, read_interval_log
from harness.matrix import Matrix
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX, RESOURCES_SUFFIX, STACK_SUFFIX
from harness.record.parts import Breakdown, ResourceUse
from harness.telemetry.energy import Reading, energy_between, read_energy
from harness.telemetry.members import Member
from harness.telemetry.metrics import MetricsReader, Readings, write_stack_table
from harness.telemetry.sampler import LastSeen, Sampler
from harness.telemetry.stages import breakdown
from harness.telemetry.summary import summarize


@dataclass
class Observed:
    log: IntervalLog | None = None  # None: Locust wrote no latency log (it failed)
    stages: Breakdown | None = None
    stages_missing: str | None = None  # why there are no stages
    resources: ResourceUse | None = None
    last_seen: dict[str, LastSeen] = field(default_factory=dict)
    readings: Readings = field(default_factory=Readings)
    energy: tuple[float, str] | None = None  # joules over the run, and what counted them


class Observer:
    """Start it with Locust's pid, finish it once Locust has stopped; neither raises for
    anything the stack answers."""

    def __init__(self, matrix: Matrix, members: list[Member], prefix: Path, cores: int) -> None:
        self.enabled = matrix.telemetry.enabled
        self.interval_s = matrix.telemetry.interval_s
        self.stack = matrix.stack
        self.members = members
        self.prefix = prefix
        self.cores = cores
        self.sampler: Sampler | None = None
        self.metrics: MetricsReader | None = None
        self.energy_before: Reading | None = None

    def start(self, locust_pid: int) -> None:
        if not self.enabled:
            return
        self.energy_before = read_energy()
        self.metrics = MetricsReader(self.stack, self.interval_s)
        self.metrics.start()
        table = Path(f"{self.prefix}{RESOURCES_SUFFIX}")
        self.sampler = Sampler(self.members, locust_pid, self.interval_s, table)
        self.sampler.start()

    def finish(self) -> Observed:
        sampled = self.sampler.stop() if self.sampler is not None else None
        readings = self.metrics.stop() if self.metrics is not None else Readings()
        observed = Observed(
            last_seen=sampled.last_seen if sampled is not None else {},
            readings=readings,
            stages_missing=readings.missing if self.enabled else "telemetry is off",
            energy=energy_between(self.energy_before, read_energy()) if self.enabled else None,
        )
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
        observed.stages = _window_breakdown(readings, log.window_start, self.stack)
        write_stack_table(Path(f"{self.prefix}{STACK_SUFFIX}"), readings, log.window_start)
        if observed.stages is not None:
            observed.stages_missing = None
        elif observed.stages_missing is None:
            observed.stages_missing = "fewer than two readings of the stack's metrics"
        return observed


def _window_breakdown(readings: Readings, window_start: float, stack) -> Breakdown | None:
    """From the last reading at or before the window opened to the one after the run."""
    snapshots = readings.snapshots
    if len(snapshots) < 2:
        return None
    before = [snapshot for taken, snapshot in snapshots if taken <= window_start]
    first = before[-1] if before else snapshots[0][1]
    return breakdown(first, snapshots[-1][1], stack)
