"""The capacity search: for one replica count, the highest Poisson arrival rate whose p95 stays
within the SLO's `p95_ms` and whose failures within its `max_failure_ratio` (MLPerf's server
scenario asks the same of a system).

It starts from an estimate of the most the stack can serve: the best valid closed-loop
throughput at this scale and stack setup (harness/stack_setup.py), else the in-process ceiling
where it describes the stack, else a short closed-loop burst (harness/run/burst.py). The first
probe is just under it; then, until one valid probe within the SLO sits below one outside it,
the search steps down (to the outside probe's answered rate where the stack was overloaded, at
most SHRINK of it) or up (to just above the estimate, then by GROW); then it closes the bracket,
interpolating the SLO's p95 between the two in log-latency (clamped to the bracket's middle
part, so it always shrinks), until they are within `capacity.tolerance` of each other. A server
that cannot keep up has broken the SLO: the arrivals it makes the generator drop are failures,
the probe is valid and outside. An invalid probe (the generator fell behind) is run once more,
and a second invalid one at the same rate ends the search with the reason. A probe that has
clearly broken the SLO stops early.

Every probe is a full open-loop run with its own report (`{models}_rate{R}`). The probes so far
live in capacity.json, so an interrupted search resumes where it stopped, on the same stack
setup only; the search is deterministic in them.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

from harness.analysis.figures import slo_breach
from harness.capacity import (
    CapacityFile,
    Estimate,
    Probe,
    ScaleCapacity,
    capacity_path,
    read_capacity,
    write_capacity,
)
from harness.latency import Latency
from harness.matrix import Slo
from harness.record import RunRecord
from harness.record.names import HTML_SUFFIX, number_label
from harness.results import Run, gather
from harness.run import Enough, served_model
from harness.run.burst import BURST_S, burst_throughput, burst_users
from harness.run.recorded import log_so_far
from harness.session import ScaleSession
from harness.stack_setup import StackSetup

FIRST = 0.9  # the first probe, as a share of the estimate
ABOVE = 1.1  # where to look for an outside probe first, as a share of the estimate
SHRINK = 0.7
GROW = 1.5
OVERLOADED = 0.9  # a probe answering under this share of its rate ran the stack flat out
MAX_PROBES = 12
LOWEST_RATE = 0.1  # requests/s: below this, the stack cannot take the load at all
SIGNIFICANT_DIGITS = 3
INSIDE = (0.2, 0.8)  # where in the bracket an interpolated probe may fall
POISSON = "poisson"  # the capacity is the highest Poisson rate, whatever the sweep's arrival
# A probe has clearly broken the SLO once, after EARLY_SHARE of its time (EARLY_S at least)
# and EARLY_REQUESTS requests, its p95 so far is CLEARLY times the SLO's, or its failures so far
# are: an overloaded queue only grows, so the rest of the probe could only be worse.
EARLY_S = 3.0
EARLY_SHARE = 0.25
EARLY_REQUESTS = 50
CLEARLY = 1.5


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


def next_step(
    probes: list[Probe], estimate: float, tolerance: float, slo: Slo, criterion: str = "p95"
) -> Step:
    """From the probes so far, the next rate to try. Deterministic, so a search resumes."""
    if len(probes) >= MAX_PROBES:
        return Step(None, f"stopped after {MAX_PROBES} probes without converging")
    if probes and not probes[-1].valid:
        same = [probe for probe in probes if probe.rate == probes[-1].rate]
        if len(same) >= 2:
            reasons = "; ".join(probes[-1].invalid_reasons)
            # Not always the generator's fault: a probe too short for min_requests is invalid too.
            return Step(None, f"two probes at {probes[-1].rate:g}/s were invalid: {reasons}")
        return Step(probes[-1].rate)  # once more: the machine may have been busy
    valid = [probe for probe in probes if probe.valid]
    inside = max((probe for probe in valid if probe.within), default=None, key=_rate)
    above = [p for p in valid if not p.within and (inside is None or p.rate > inside.rate)]
    outside = min(above, default=None, key=_rate)
    if inside is None and outside is None:
        return Step(round_rate(FIRST * estimate))
    if inside is None:
        rate = outside.rate * SHRINK
        if outside.rps is not None and outside.rps < OVERLOADED * outside.rate:
            rate = min(rate, FIRST * outside.rps)  # what it served flat out bounds the capacity
        if rate < LOWEST_RATE:
            return Step(None, f"outside the SLO even at {outside.rate:g}/s")
        return Step(round_rate(rate))
    if outside is None:
        if inside.rate * (1 + tolerance) < ABOVE * estimate:
            return Step(round_rate(ABOVE * estimate))
        return Step(round_rate(inside.rate * GROW))
    if (outside.rate - inside.rate) / inside.rate <= tolerance:
        return Step(None)
    # p95 grows smoothly with the rate: where it meets the SLO is interpolated; a goodput
    # criterion (or failures) bisects.
    share = _interpolated(inside, outside, slo.p95_ms) if criterion == "p95" else 0.5
    rate = round_rate(inside.rate + share * (outside.rate - inside.rate))
    if rate in (inside.rate, outside.rate):  # three digits cannot part them further
        return Step(None)
    return Step(rate)


def _rate(probe: Probe) -> float:
    return probe.rate


def _interpolated(inside: Probe, outside: Probe, slo_ms: float) -> float:
    """Where between the two probes p95 meets the SLO, in log-latency; the middle when the
    outside probe broke it by its failures."""
    low, high = inside.p95_ms, outside.p95_ms
    if not low or not high or not low <= slo_ms <= high or high <= low:
        return 0.5
    share = (math.log(slo_ms) - math.log(low)) / (math.log(high) - math.log(low))
    return min(max(share, INSIDE[0]), INSIDE[1])


def capacity_of(probes: list[Probe]) -> float | None:
    return max((probe.rate for probe in probes if probe.valid and probe.within), default=None)


def clearly_outside(slo: Slo, probe_s: float) -> Enough:
    """For a probe: a reason to stop it once it has clearly broken the SLO, else None."""

    def check(prefix: Path) -> str | None:
        log = log_so_far(prefix)
        if log is None or log.window_s < max(EARLY_S, EARLY_SHARE * probe_s):
            return None
        so_far, dropped = log.whole(), log.counter("dropped")
        attempts = so_far.requests + dropped
        if attempts < EARLY_REQUESTS:
            return None
        failures = (so_far.failures + dropped) / attempts
        seconds = f"after {log.window_s:.0f} s"
        if so_far.p95_ms is not None and so_far.p95_ms > CLEARLY * slo.p95_ms:
            return f"p95 {so_far.p95_ms:.0f} ms {seconds}, over {CLEARLY:g}× the SLO's"
        if failures > CLEARLY * max(slo.max_failure_ratio, 0.01):
            return f"{failures:.0%} failed {seconds}, over {CLEARLY:g}× the SLO's share"
        return None

    return check


def search_at_scale(session: ScaleSession, force: bool) -> ScaleCapacity:
    """Probe at the session's scale until the capacity is found; resumes from capacity.json."""
    matrix, target, models = session.matrix, session.command.target, session.models
    reports = session.command.reports
    path = capacity_path(reports, target)
    wanted = CapacityFile(
        target,
        matrix.slo,
        matrix.capacity.tolerance,
        POISSON,
        matrix.capacity.probe_time,
        matrix.capacity.criterion,
        setup=session.command.setup,
    )
    found = read_capacity(path)
    if found is None or not found.matches(wanted):
        found = wanted
    if force or models not in found.scales:
        found.scales[models] = ScaleCapacity()
    scale = found.scales[models]
    if scale.complete:
        print(f"capacity at {models} replica(s): already searched, {_said(scale)}", flush=True)
        return scale
    if scale.estimate is None:
        scale.estimate = _estimate(session, reports)
        write_capacity(path, found)
        print(f"capacity at {models} replica(s): from {_estimated(scale.estimate)}", flush=True)
    settings = (matrix.capacity.tolerance, matrix.slo, matrix.capacity.criterion)
    step = next_step(scale.probes, scale.estimate.rps, *settings)
    while step.rate is not None:
        began = time.monotonic()
        print(f"[probe {len(scale.probes) + 1}] {target} models={models} rate={step.rate:g}/s")
        point = matrix.open_point(target, models, step.rate, matrix.capacity.probe_time, POISSON)
        record = session.run(point, enough=clearly_outside(matrix.slo, point.run_time_s))
        scale.probes.append(_probe(matrix.slo, matrix.capacity.criterion, record))
        scale.seconds += time.monotonic() - began
        scale.capacity_rps = capacity_of(scale.probes)
        write_capacity(path, found)
        step = next_step(scale.probes, scale.estimate.rps, *settings)
    scale.capacity_rps = capacity_of(scale.probes)
    scale.complete, scale.note = True, step.note
    write_capacity(path, found)
    print(f"capacity at {models} replica(s): {_said(scale)}", flush=True)
    return scale


def closed_loop_estimate(
    runs: list[Run], target: str, models: int, setup: StackSetup
) -> Estimate | None:
    """The best valid closed-loop throughput at this scale, among the runs of this target on
    this setup only: another backend's, or other settings', is another stack's."""
    closed = [
        run.stats.rps
        for run in runs
        if run.kind == "closed"
        and run.counts
        and (run.target, run.models, run.setup) == (target, models, setup)
    ]
    return Estimate(max(closed), "the best closed-loop run at this scale") if closed else None


def _estimate(session: ScaleSession, reports: Path) -> Estimate:
    """The most the stack can serve at this scale, from what says it best."""
    target, models = session.command.target, session.models
    swept = closed_loop_estimate(gather(reports).runs, target, models, session.command.setup)
    if swept is not None:
        return swept
    stack = session.up()  # measures the ceiling first, where the matrix asks for it
    ceiling = session.ceiling
    if ceiling is not None and ceiling.describes(served_model(session.ready)):
        return Estimate(models * ceiling.images_per_s, "the replicas' in-process ceiling")
    rps = burst_throughput(session.matrix, stack, target, models)
    if rps is None:
        return Estimate(LOWEST_RATE * 100, "nothing: a burst got no answer")
    users = burst_users(session.matrix, models)
    return Estimate(rps, f"a closed-loop burst of {users} users for {BURST_S} s")


def _probe(slo: Slo, criterion: str, record: RunRecord) -> Probe:
    report = f"{record.name.stem}{HTML_SUFFIX}"
    stats = record.latency
    if record.status != "ok" or stats is None:
        reason = record.failure_reason or "failed"
        return Probe(record.name.load.rate, None, None, False, False, report, (reason,))
    return Probe(
        rate=record.name.load.rate,
        p95_ms=stats.p95_ms,
        failure_ratio=stats.failure_ratio,
        valid=record.valid,
        within=within_slo(slo, criterion, stats),
        report=report,
        invalid_reasons=tuple(record.invalid_reasons or ()),
        rps=(stats.requests - stats.failures) / stats.seconds if stats.seconds else None,
        ended_early=record.ended_early,
        goodput=stats.goodput,
    )


def within_slo(slo: Slo, criterion: str, stats: Latency) -> bool:
    """Whether a probe kept the SLO, by the search's criterion."""
    if criterion == "goodput":
        return stats.goodput is not None and stats.goodput >= slo.min_goodput
    return slo_breach(slo, stats) is None


def _estimated(estimate: Estimate) -> str:
    return f"{number_label(round_rate(estimate.rps))} req/s ({estimate.source})"


def _said(scale: ScaleCapacity) -> str:
    found = (
        "none within the SLO"
        if scale.capacity_rps is None
        else f"{number_label(scale.capacity_rps)} req/s"
    )
    ending = f" ({scale.note})" if scale.note else ""
    return f"{found} after {len(scale.probes)} probes, {scale.seconds:.0f} s{ending}"
