"""The nested parts of a run's record that telemetry measures: where the time went (stages) and
what each process used (resources). Telemetry makes them (harness/telemetry/); the record
writes and reads them with its other fields; the analysis and the pages read them here."""

from dataclasses import dataclass, field

from harness.record.names import HARNESS, LOCUST, LOCUST_WORKER, member_label

# Locust at this share of the cores it can use measures itself, not the stack.
LOCUST_SATURATED = 0.90


@dataclass(frozen=True)
class StageFigures:
    mean_ms: float
    p95_ms: float | None
    count: int
    said: str | None = None  # how sentences name it (records before schema 3: None)
    role: str | None = None  # api, queue, batch, model, transfer; None: unknown


@dataclass(frozen=True)
class Breakdown:
    """The measured window's stages, mean batch size and jobs per replica."""

    stages: dict[str, StageFigures]
    batch_size_mean: float | None
    jobs_per_replica: dict[str, int] = field(default_factory=dict)

    @property
    def total_mean_ms(self) -> float:
        return sum(figures.mean_ms for figures in self.stages.values())


@dataclass(frozen=True)
class MemberUse:
    service: str
    replica: str
    cpu_peak: float  # % of one core
    cpu_mean: float
    rss_peak_mib: float
    rss_mean_mib: float
    gpu_mem_peak_mib: float | None
    node: str = ""  # the swarm node it ran on where the matrix names nodes; else, or before 4: ""

    @property
    def label(self) -> str:
        return member_label(self.service, self.replica)


@dataclass(frozen=True)
class NodeUse:
    """One node's CPU: the sum of the stack's containers there, sample by sample, as its engine
    reports them; what else the host runs is not in it."""

    name: str
    cpu_peak: float  # % of one core
    cpu_mean: float


@dataclass(frozen=True)
class GpuUse:
    index: str
    util_mean: float
    util_peak: float
    mem_peak_mib: float


@dataclass(frozen=True)
class ResourceUse:
    interval_s: float
    members: tuple[MemberUse, ...]  # the stack's, then Locust's, the harness's, the engine's
    machine_cpu_peak: float  # % of one core: 200 is two cores busy
    machine_cpu_mean: float
    cores: int
    gpus: tuple[GpuUse, ...]
    nodes: tuple[NodeUse, ...] = ()  # none: the matrix names no nodes (or before schema 4)
    # The machine's CPU that no member used, mean % of one core; None on several nodes, or
    # before schema 5 (when the harness and the Docker engine were no members either).
    unaccounted_cpu_mean: float | None = None

    def of(self, service: str) -> list[MemberUse]:
        return [member for member in self.members if member.service == service]

    def on(self, node: str) -> list[MemberUse]:
        return [member for member in self.members if member.node == node]

    @property
    def locust(self) -> MemberUse | None:
        found = self.of(LOCUST)
        return found[0] if found else None

    @property
    def harness(self) -> MemberUse | None:
        """The instrument's own use (schema 5 on)."""
        found = self.of(HARNESS)
        return found[0] if found else None

    def locust_busy(self, workers: int) -> float | None:
        """Locust's mean CPU as a share of what it can use: its busiest worker's share of a
        core where the workers are the stack's (swarm), else its processes' share of the
        cores they can use here."""
        in_stack = self.of(LOCUST_WORKER)
        if in_stack:
            return max(member.cpu_mean for member in in_stack) / 100
        locust = self.locust
        if locust is None:
            return None
        return locust.cpu_mean / (100 * max(1, min(workers, self.cores)))


@dataclass(frozen=True)
class Floor:
    """The load generator's own latency at a run's rate, against a null endpoint; for a
    streamed request also its own TTFT and ITL, the null endpoint streaming every token at once
    (None: no stream was measured, or a record before schema 7)."""

    rate: float  # requests/s calibrated at
    workers: int  # Locust processes
    p50_ms: float | None
    p99_ms: float | None
    ttft_p50_ms: float | None = None
    ttft_p99_ms: float | None = None
    itl_p50_ms: float | None = None
    itl_p99_ms: float | None = None
