"""What the capacity search and the open-loop runs say: capacity against replicas, GPU against
CPU at capacity, and closed against open loop at comparable load (figures, then sentences)."""

from dataclasses import dataclass

from harness.analysis.formatting import (
    describe_good,
    describe_slo,
    format_ms,
    format_percent_whole,
    format_rps,
    plural,
)
from harness.capacity import CapacityFile, ScaleCapacity
from harness.matrix import Slo
from harness.record.names import number_label
from harness.results import Run

# An open-loop run and a closed-loop run are at comparable load when the closed loop's
# throughput is within this share of the open loop's rate.
COMPARABLE = 0.10


@dataclass(frozen=True)
class CapacityScaling:
    target: str
    models: int
    capacity_one: float
    capacity_n: float

    @property
    def speedup(self) -> float:
        return self.capacity_n / self.capacity_one

    @property
    def efficiency(self) -> float:
        return self.capacity_n / (self.models * self.capacity_one)


@dataclass(frozen=True)
class LoopPair:
    """A closed-loop run and an open-loop run at about the same load and scale."""

    closed: Run
    open: Run


def found_capacities(capacity: CapacityFile) -> dict[int, float]:
    """Replicas -> capacity, for the scales whose search found one."""
    return {
        models: scale.capacity_rps
        for models, scale in sorted(capacity.scales.items())
        if scale.capacity_rps is not None
    }


def capacity_scalings(capacity: CapacityFile) -> list[CapacityScaling]:
    found = found_capacities(capacity)
    if 1 not in found:
        return []
    return [
        CapacityScaling(capacity.target, models, found[1], value)
        for models, value in found.items()
        if models > 1
    ]


def loop_pairs(runs: list[Run]) -> list[LoopPair]:
    """For each valid open-loop run, the valid closed-loop run at the same target, setup and
    scale whose throughput is nearest its rate, when within COMPARABLE of it."""
    pairs = []
    for open_run in (run for run in runs if run.kind == "open" and run.counts):
        same_scale = (open_run.target, open_run.setup, open_run.models)
        closed = [
            run
            for run in runs
            if run.kind == "closed"
            and run.counts
            and (run.target, run.setup, run.models) == same_scale
            and abs(run.stats.rps - open_run.rate) <= COMPARABLE * open_run.rate
        ]
        if closed:
            nearest = min(closed, key=lambda run: abs(run.stats.rps - open_run.rate))
            pairs.append(LoopPair(nearest, open_run))
    return pairs


def kept(capacity: CapacityFile, slo: Slo) -> str:
    """What the search's rates kept: the SLO's p95 and failures, or its goodput."""
    if capacity.criterion == "goodput":
        return f"{format_percent_whole(slo.min_goodput)} of requests good ({describe_good(slo)})"
    return describe_slo(slo)


def capacity_sentences(capacities: list[CapacityFile], slo: Slo, runs: list[Run]) -> list[str]:
    sentences = []
    unstable = {
        (run.target, f"{run.stem}.html"): run.record.unstable_reason
        for run in runs
        if run.record.stable is False
    }
    for capacity in capacities:
        for models, scale in sorted(capacity.scales.items()):
            probes = plural(len(scale.probes), "probe")
            if scale.capacity_rps is None:
                why = f" ({scale.note})" if scale.note else ""
                sentences.append(
                    f"{capacity.target}, {plural(models, 'replica')}: no Poisson rate with"
                    f" {kept(capacity, slo)} found in {probes}{why}."
                )
                continue
            ending = f"; the search ended early: {scale.note}" if scale.note else ""
            found = scale.found_by()
            ending += _unsure(scale)
            shaky = unstable.get((capacity.target, found.report)) if found else None
            if shaky:
                # Near capacity a queue's tail swings: the figure stands, but say how much.
                ending += f"; its probe was not stable ({shaky}): longer runs narrow it"
            sentences.append(
                f"{capacity.target}, {plural(models, 'replica')}: takes"
                f" {number_label(scale.capacity_rps)} req/s with {kept(capacity, slo)}"
                f" ({probes}, {scale.seconds / 60:.0f} min){ending}."
            )
        for scaling in capacity_scalings(capacity):
            n, one = number_label(scaling.capacity_n), number_label(scaling.capacity_one)
            sentences.append(
                f"{capacity.target}: {scaling.models} replicas take {scaling.speedup:.2f}× the load"
                f" of 1 within the SLO: {format_percent_whole(scaling.efficiency)} of linear"
                f" ({n} vs {one} req/s)."
            )
    found = {(capacity.setup, capacity.target): capacity for capacity in capacities}
    for setup in sorted({capacity.setup for capacity in capacities}):
        cpu, gpu = (found.get((setup, target)) for target in ("cpu", "gpu"))
        if cpu is not None and gpu is not None:
            sentences += _gpu_cpu_capacity(found_capacities(cpu), found_capacities(gpu))
    return sentences


def _unsure(scale: ScaleCapacity) -> str:
    """What the capacity's probes could not tell (harness/search_fit.py): nothing for files
    before schema 4, whose probes were not judged by a bound."""
    counted = any(probe.settled is not None and not probe.ramp for probe in scale.probes)
    if not counted or scale.capacity_rps is None or scale.sure_rps == scale.capacity_rps:
        return ""
    if scale.sure_rps is None:
        return "; no probe's p95 was within the SLO at 95% confidence"
    return (
        f"; at least {number_label(scale.sure_rps)} req/s at 95% confidence: above it, its"
        " probes' p95s could not tell"
    )


def _gpu_cpu_capacity(cpu: dict[int, float], gpu: dict[int, float]) -> list[str]:
    return [
        f"At {plural(models, 'replica')}, the GPU takes {gpu[models] / cpu[models]:.2f}× the"
        f" CPU's load within the SLO ({number_label(gpu[models])} vs"
        f" {number_label(cpu[models])} req/s)."
        for models in sorted(set(cpu) & set(gpu))
    ]


def loop_sentences(runs: list[Run]) -> list[str]:
    sentences = []
    for pair in loop_pairs(runs):
        closed, opened = pair.closed, pair.open
        sentences.append(
            f"{opened.target}, {plural(opened.models, 'replica')} at about"
            f" {format_rps(opened.rate)} req/s: the closed loop ({plural(closed.users, 'user')})"
            f" reports p95 {format_ms(closed.stats.p95_ms)} ms, the open loop"
            f" p95 {format_ms(opened.stats.p95_ms)} ms and p99 {format_ms(opened.stats.p99_ms)} ms."
            " A closed loop sends less while the stack is slow, so its latency leaves out the"
            " requests a stall would have delayed (coordinated omission); the open loop counts"
            " each from when it was due, as independent clients would see it."
        )
    return sentences
