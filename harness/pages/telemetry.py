"""What the pages show of a run's telemetry: its time breakdown as one stacked bar, its peak
resources in a table, and each swarm node's CPU beside its replicas' (the run's own page over
time: harness/pages/run.py)."""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.analysis import limits
from harness.analysis.explanations import stage_name
from harness.analysis.formatting import format_ms, format_percent_whole
from harness.record.names import LOCUST, MACHINE, NOT_THE_STACK, RUN_PAGE_SUFFIX
from harness.results import Run

# One colour per stage, in the order a request meets them; the client's share is grey.
STAGE_COLOURS = (
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#E69F00",
    "#CC79A7",
    "#0072B2",
    "#D55E00",
    "#7f5fa6",
    "#999999",
)
CLIENT_COLOUR = "#bbbbbb"


@dataclass(frozen=True)
class Segment:
    label: str
    mean_ms: float
    share: float  # of the bar, 0..1
    colour: str

    @property
    def hint(self) -> str:
        return f"{self.label}: {format_ms(self.mean_ms)} ms ({format_percent_whole(self.share)})"


@dataclass(frozen=True)
class BreakdownBar:
    run: Run
    segments: list[Segment]  # empty: the stack reports no stages

    @property
    def dominant(self) -> Segment | None:
        return max(self.segments, key=lambda segment: segment.mean_ms, default=None)


@dataclass(frozen=True)
class NodeFigures:
    """One swarm node of a run: its CPU (the stack's containers there) beside its replicas',
    so a node the replicas leave idle shows."""

    name: str
    cpu_mean: float  # % of one core
    cpu_peak: float
    replicas: list[str]  # the scaled service's replicas there, by label
    replicas_cpu_mean: float


@dataclass(frozen=True)
class ResourceRow:
    run: Run
    cpu_peak: dict[str, float]  # by service, % of one core (the busiest replica's)
    rss_peak: dict[str, float]  # by member label, MiB
    nodes: dict[str, NodeFigures]  # by node name; none where the matrix names no nodes
    page: Path | None


@dataclass(frozen=True)
class ResourceTable:
    services: list[str]
    members: list[str]
    nodes: list[str]
    rows: list[ResourceRow]


def breakdown_bar(run: Run) -> BreakdownBar:
    shares = limits.time_shares(run) or []
    segments = [
        Segment(
            stage_name(run, share.stage),
            share.mean_ms,
            share.share,
            CLIENT_COLOUR
            if share.stage == limits.CLIENT
            else STAGE_COLOURS[index % len(STAGE_COLOURS)],
        )
        for index, share in enumerate(shares)
    ]
    return BreakdownBar(run, segments)


def legend_entries(bars: list[BreakdownBar]) -> list[tuple[str, str]]:
    """Each stage once, in the order the bars show them: (label, colour)."""
    entries: dict[str, str] = {}
    for bar in bars:
        for segment in bar.segments:
            entries.setdefault(segment.label, segment.colour)
    return list(entries.items())


def node_figures(run: Run) -> list[NodeFigures]:
    """Each node the run sampled, in the order it was sampled."""
    resources = run.record.resources
    if resources is None:
        return []
    scaled = limits.scaled_service(run)
    found = []
    for node in resources.nodes:
        replicas = [member for member in resources.on(node.name) if member.service == scaled]
        found.append(
            NodeFigures(
                node.name,
                node.cpu_mean,
                node.cpu_peak,
                [member.label for member in replicas],
                sum(member.cpu_mean for member in replicas),
            )
        )
    return found


def resource_table(runs: list[Run]) -> ResourceTable:
    rows, services, members, nodes = [], {}, {}, {}
    for run in runs:
        resources = run.record.resources
        if resources is None:
            continue
        cpu: dict[str, float] = defaultdict(float)
        rss: dict[str, float] = {}
        for member in resources.members:
            cpu[member.service] = max(cpu[member.service], member.cpu_peak)
            services[member.service] = None
            if member.service not in (LOCUST,):
                rss[member.label] = member.rss_peak_mib
                members[member.label] = None
        cpu[MACHINE] = resources.machine_cpu_peak
        by_node = {figures.name: figures for figures in node_figures(run)}
        nodes.update(dict.fromkeys(by_node))
        page = run.directory / f"{run.stem}{RUN_PAGE_SUFFIX}"
        rows.append(ResourceRow(run, dict(cpu), rss, by_node, page if page.is_file() else None))
    ordered = sorted(services, key=lambda service: (service in NOT_THE_STACK, service))
    return ResourceTable([*ordered, MACHINE], sorted(members), list(nodes), rows)
