"""The capacity search: for one replica count, the highest Poisson arrival rate whose p95 stays
within the SLO's `p95_ms` and whose failures within its `max_failure_ratio` (MLPerf's server
scenario asks the same of a system).

Bracketing from an estimate (the closed-loop runs' best throughput at this scale, else the
replicas' in-process ceiling), stepping down by SHRINK or up by GROW until one valid probe is
within the SLO and one above it is outside, then bisection until they are within the matrix's
`capacity_tolerance` of each other. Every probe is a full open-loop run with its own report
(`{models}_rate{R}`); an invalid probe is run once more, and a second invalid one at the same
rate ends the search with the reason: it is never counted. The probes so far live in
capacity.json, so an interrupted search resumes where it stopped.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.figures import slo_breach
from harness.capacity import (
    CapacityFile,
    Probe,
    ScaleCapacity,
    capacity_path,
    read_capacity,
    write_capacity,
)
from harness.ceiling import Ceiling
from harness.matrix import Matrix, OpenLoad, RunPoint
from harness.pages.index import refresh_index
from harness.record.names import RunName, number_label
from harness.results import gather
from harness.run import execute_run
from harness.stack import bring_down, bring_up, restore

SHRINK = 0.7
GROW = 1.5
MAX_PROBES = 16
LOWEST_RATE = 0.1  # requests/s: below this, the stack cannot take the load at all
FALLBACK_ESTIMATE = 10.0
SIGNIFICANT_DIGITS = 3
POISSON = "poisson"  # the capacity is the highest Poisson rate, whatever the sweep's arrival


@dataclass(frozen=True)
class Step:
    """What the search does next: probe `rate`, or stop with `note` (None: it converged)."""

    rate: float | None
    note: str | None = None


def round_rate(rate: float) -> float:
    """Three significant digits, so that reports keep readable names (2_rate183.html)."""
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(rate))
    rounded = round(rate, digits)
    return float(int(rounded)) if rounded == int(rounded) else rounded


def next_step(probes: list[Probe], estimate: float, tolerance: float) -> Step:
    """From the probes so far, the next rate to try. Deterministic, so a search resumes."""
    if len(probes) >= MAX_PROBES:
        return Step(None, f"stopped after {MAX_PROBES} probes without converging")
    if probes and not probes[-1].valid:
        same = [probe for probe in probes if probe.rate == probes[-1].rate]
        if len(same) >= 2:
            reasons = "; ".join(probes[-1].invalid_reasons)
            return Step(None, f"the load generator cannot sustain {probes[-1].rate:g}/s: {reasons}")
        return Step(probes[-1].rate)  # once more: the machine may have been busy
    valid = [probe for probe in probes if probe.valid]
    within = max((probe.rate for probe in valid if probe.within), default=None)
    above = [
        probe.rate
        for probe in valid
        if not probe.within and (within is None or probe.rate > within)
    ]
    outside = min(above, default=None)
    if within is None and outside is None:
        return Step(round_rate(estimate))
    if within is None:
        rate = round_rate(outside * SHRINK)
        if rate < LOWEST_RATE:
            return Step(None, f"outside the SLO even at {outside:g}/s")
        return Step(rate)
    if outside is None:
        return Step(round_rate(within * GROW))
    if (outside - within) / within <= tolerance:
        return Step(None)
    middle = round_rate((within + outside) / 2)
    if middle in (within, outside):  # three digits cannot part them further
        return Step(None)
    return Step(middle)


def capacity_of(probes: list[Probe]) -> float | None:
    return max((probe.rate for probe in probes if probe.valid and probe.within), default=None)


def estimate_for(
    matrix: Matrix, target: str, models: int, reports: Path, ceiling: Ceiling | None
) -> float:
    """Where to start: the best valid closed-loop throughput at this scale, else the replicas'
    in-process ceiling, else a small rate."""
    closed = [
        run.stats.rps
        for run in gather(reports).runs
        if run.kind == "closed" and run.counts and run.target == target and run.models == models
    ]
    if closed:
        return max(closed)
    if ceiling is not None:
        return models * ceiling.images_per_s
    return FALLBACK_ESTIMATE


def search_at_scale(
    matrix: Matrix,
    target: str,
    models: int,
    backend: str,
    reports: Path,
    state_dir: Path,
    ceiling: Ceiling | None,
    force: bool,
) -> ScaleCapacity:
    """Probe at `models` replicas until the capacity is found; resumes from capacity.json."""
    path = capacity_path(reports, target)
    found = read_capacity(path)
    if found is None or not found.matches(matrix.slo, matrix.capacity_tolerance, POISSON):
        found = CapacityFile(target, matrix.slo, matrix.capacity_tolerance, POISSON)
    if force or models not in found.scales:
        found.scales[models] = ScaleCapacity()
    scale = found.scales[models]
    estimate = estimate_for(matrix, target, models, reports, ceiling)
    step = next_step(scale.probes, estimate, matrix.capacity_tolerance)
    if scale.complete or step.rate is None:
        _finish(scale, step)
        write_capacity(path, found)
        print(f"capacity at {models} replica(s): already searched, {_said(scale)}", flush=True)
        return scale
    stack, ready = bring_up(matrix.stack, target, models, backend, state_dir)
    try:
        while step.rate is not None:
            began = time.monotonic()
            if stack.exited():
                ready = restore(stack, matrix.stack, state_dir)
            print(
                f"[probe {len(scale.probes) + 1}] {target} models={models} rate={step.rate:g}/s",
                flush=True,
            )
            load = OpenLoad(step.rate, POISSON, matrix.max_in_flight)
            point = RunPoint(target, models, load, matrix.run_time)
            outcome = execute_run(matrix, point, stack, reports, ready, ceiling)
            scale.probes.append(_probe(matrix, reports, RunName.of(point), outcome.status))
            scale.seconds += time.monotonic() - began
            step = next_step(scale.probes, estimate, matrix.capacity_tolerance)
            scale.capacity_rps = capacity_of(scale.probes)
            write_capacity(path, found)
            refresh_index(reports, matrix)
        _finish(scale, step)
        write_capacity(path, found)
    finally:
        bring_down(stack, state_dir)
    print(f"capacity at {models} replica(s): {_said(scale)}", flush=True)
    return scale


def _probe(matrix: Matrix, reports: Path, name: RunName, status: str) -> Probe:
    run = next(run for run in gather(reports).runs if run.record.name == name)
    report = f"{name.stem}.html"
    if status != "ok" or run.stats is None:
        reason = run.record.failure_reason or "failed"
        return Probe(name.load.rate, None, None, False, False, report, (reason,))
    within = run.counts and slo_breach(matrix.slo, run.stats) is None
    reasons = run.record.invalid_reasons or ()
    return Probe(
        rate=name.load.rate,
        p95_ms=run.stats.p95_ms,
        failure_ratio=run.stats.failure_ratio,
        valid=run.record.valid,
        within=within,
        report=report,
        invalid_reasons=tuple(reasons),
    )


def _finish(scale: ScaleCapacity, step: Step) -> None:
    scale.capacity_rps = capacity_of(scale.probes)
    scale.complete = True
    scale.note = step.note


def _said(scale: ScaleCapacity) -> str:
    found = (
        "none within the SLO"
        if scale.capacity_rps is None
        else f"{number_label(scale.capacity_rps)} req/s"
    )
    ending = f" ({scale.note})" if scale.note else ""
    return f"{found} after {len(scale.probes)} probes, {scale.seconds:.0f} s{ending}"
