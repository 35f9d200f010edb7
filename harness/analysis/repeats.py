"""Repetitions of a point: its runs grouped, their figures' means with 95% intervals, and one
run per point, with the means, for the conclusions. Repetitions count together only on one
setup (harness/stack_setup.py): a point repeated on another backend is another point."""

from collections import defaultdict
from dataclasses import dataclass, replace

from harness.analysis.statistics import Spread, spread
from harness.latency import Latency
from harness.record.names import RunName
from harness.results import Run
from harness.stack_setup import StackSetup

# A point on the setup it was measured on.
PointOn = tuple[RunName, StackSetup]

MEANED = ("mean_ms", "p50_ms", "p90_ms", "p95_ms", "p99_ms", "p999_ms", "max_ms")


@dataclass(frozen=True)
class Repeated:
    """One point and its counting repetitions."""

    runs: list[Run]
    rps: Spread
    p95: Spread | None


def point_of(name: RunName) -> RunName:
    return replace(name, repeat=1)


def repeated(runs: list[Run]) -> dict[PointOn, Repeated]:
    """Per point and setup, its runs that count; the figures' spreads over them."""
    grouped: dict[PointOn, list[Run]] = defaultdict(list)
    for run in runs:
        if run.counts:
            grouped[(point_of(run.record.name), run.setup)].append(run)
    found = {}
    for point, point_runs in grouped.items():
        p95s = [run.stats.p95_ms for run in point_runs if run.stats.p95_ms is not None]
        found[point] = Repeated(
            point_runs,
            spread([run.stats.rps for run in point_runs]),
            spread(p95s) if p95s else None,
        )
    return found


def one_per_point(runs: list[Run]) -> list[Run]:
    """The runs the conclusions read: a point's counting repetitions as one run with their mean
    figures, and every run that does not count (failed or invalid, for the lists)."""
    merged = []
    for (point, _), group in repeated(runs).items():
        if len(group.runs) == 1:
            merged.append(group.runs[0])
            continue
        first = group.runs[0]
        means = {
            field: _mean_of([getattr(run.stats, field) for run in group.runs]) for field in MEANED
        }
        # Pooled: the throughput of every repetition's requests over all their seconds.
        stats = Latency(
            requests=sum(run.stats.requests for run in group.runs),
            failures=sum(run.stats.failures for run in group.runs),
            seconds=sum(run.stats.seconds for run in group.runs),
            lost=sum(run.stats.lost for run in group.runs),
            exact=all(run.stats.exact for run in group.runs),
            **means,
        )
        unstable = next(
            (run.record.unstable_reason for run in group.runs if run.record.stable is False), None
        )
        record = replace(first.record, name=point, unstable_reason=unstable)
        merged.append(replace(first, record=record, stats=stats))
    others = [run for run in runs if not run.counts]
    return sorted(merged + others, key=lambda run: run.record.name.sort_key())


def _mean_of(values: list[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return sum(present) / len(present) if present else None
