"""The capacity search: for one replica count, the highest Poisson arrival rate whose p95 stays
within the SLO's `p95_ms` and whose failures within its `max_failure_ratio` (MLPerf's server
scenario asks the same of a system).

It starts from an estimate of the most the stack can serve: the best valid closed-loop
throughput at this scale and stack setup (harness/stack_setup.py), else the in-process ceiling
where it describes the stack, else a short closed-loop burst (harness/run/burst.py). With
`capacity.probe_time` "auto" (the default), a ramp of RAMP_S seconds first raises the rate from
RAMP_FROM to RAMP_TO of it (harness/probing.py), and where its p95 turned over the SLO becomes
the estimate. In a tune, the capacity of the nearest configuration already measured is the
estimate instead, without a ramp (harness/tuning.py). The first
probe is just under it; then, until one valid probe within the SLO sits below one outside it,
the search steps down (to the outside probe's answered rate where the stack was overloaded, at
most SHRINK of it) or up (to just above the estimate, then by GROW); then it closes the bracket,
interpolating the SLO's p95 between the two in log-latency (clamped to the bracket's middle
part, so it always shrinks), until they are within `capacity.tolerance` of each other. The
interpolation is a monotone curve through every probe so far (harness/search_fit.py). A server
that cannot keep up has broken the SLO: the arrivals it makes the generator drop are failures,
the probe is valid and outside. An invalid probe (the generator fell behind) is run once more,
and a second invalid one at the same rate ends the search with the reason.

A probe is within the SLO or outside it as a confidence bound on its p95 says
(harness/search_fit.py); where the bound cannot tell, by its own p95, and the scale records
`sure_rps`, the highest rate the bound settled inside. An "auto" probe lasts AUTO_REQUESTS
requests (AUTO_S seconds at least and at most) and ends as soon as the bound settles it either
way; any probe ends once it has clearly broken the SLO (harness/verdict.py).

Every probe is a full open-loop run with its own report (`{models}_rate{R}`, the ramp's
`{models}_shape-capacity-ramp`). The probes so far
live in capacity.json, so an interrupted search resumes where it stopped, on the same stack
setup only; the search is deterministic in them.
"""

import math
import time
from dataclasses import dataclass
from pathlib import Path

from harness.capacity import (
    CapacityFile,
    Estimate,
    Probe,
    ScaleCapacity,
    capacity_path,
    read_capacity,
    write_capacity,
)
from harness.matrix import Slo
from harness.probing import AUTO, POISSON, RAMP_TO, flat_probe, ramp_probe
from harness.record.names import number_label
from harness.results import Run, gather
from harness.run import served_model
from harness.run.burst import BURST_S, burst_throughput, burst_users
from harness.search_fit import crossing
from harness.session import ScaleSession
from harness.stack_setup import StackSetup
from harness.verdict import good_share

FIRST = 0.9  # the first probe, as a share of the estimate
ABOVE = 1.1  # where to look for an outside probe first, as a share of the estimate
SHRINK = 0.7  # the farthest step down from an outside probe, as a share of its rate
GROW = 1.5  # and up from an inside one
UNSURE_STEP = 3  # below an unsure probe called outside, step down this many tolerances at least
OVERLOADED = 0.9  # a probe answering under this share of its rate ran the stack flat out
MAX_PROBES = 12
LOWEST_RATE = 0.1  # requests/s: below this, the stack cannot take the load at all
SIGNIFICANT_DIGITS = 3
INSIDE = (0.1, 0.9)  # where in the bracket an interpolated probe may fall
CLOSE = 0.4  # an interpolated probe's step beside the fitted capacity, as a share of tolerance
ROUNDING = 0.002  # room for a rate's three significant digits
RAMP_FIRST = 0.75  # the first flat probe after a ramp, as a share of where its p95 turned


@dataclass(frozen=True)
class Step:
    """What the search does next: probe `rate` (ramp up to it), or stop with `note` (None: it
    converged)."""

    rate: float | None
    note: str | None = None
    ramp: bool = False


def round_rate(rate: float) -> float:
    """Three significant digits, so that reports keep readable names (2_rate183.html)."""
    digits = SIGNIFICANT_DIGITS - 1 - math.floor(math.log10(rate))
    rounded = round(rate, digits)
    return float(int(rounded)) if rounded == int(rounded) else rounded


def next_step(
    probes: list[Probe],
    estimate: float,
    tolerance: float,
    slo: Slo,
    criterion: str = "p95",
    ramp: bool = False,
) -> Step:
    """From the probes so far, the next rate to try. Deterministic, so a search resumes."""
    if ramp and not probes:
        return Step(round_rate(RAMP_TO * estimate), ramp=True)
    ramps = [probe for probe in probes if probe.ramp]
    probes = [probe for probe in probes if not probe.ramp]
    first = FIRST * estimate
    if ramps and ramps[0].valid:
        # A ramp's p95 turns over the SLO only once a queue has grown: later than the rate
        # that starts it (on the stand-ins, 1.4-1.5 times it). No turn: it took the whole ramp.
        first = RAMP_FIRST * ramps[0].turn_rps if ramps[0].turn_rps else FIRST * ramps[0].rate
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
        return Step(round_rate(first))
    if inside is None:
        rate = outside.rate * _step(outside, slo, criterion, SHRINK, tolerance)
        if outside.settled is False and not outside.ended_early:
            # Unsure, called outside: the probe just under it would be as unsure. Far enough
            # for the bound to settle one inside, then the fit closes the bracket.
            rate = min(rate, outside.rate * (1 - UNSURE_STEP * tolerance))
        if outside.rps is not None and outside.rps < OVERLOADED * outside.rate:
            rate = min(rate, FIRST * outside.rps)  # what it served flat out bounds the capacity
        if rate < LOWEST_RATE:
            return Step(None, f"outside the SLO even at {outside.rate:g}/s")
        return Step(round_rate(rate))
    if outside is None:
        if criterion != "p95" and inside.rate * (1 + tolerance) < ABOVE * estimate:
            return Step(round_rate(ABOVE * estimate))
        return Step(round_rate(inside.rate * _step(inside, slo, criterion, GROW, tolerance)))
    if (outside.rate - inside.rate) / inside.rate <= tolerance:
        return Step(None)
    share = _closing(valid, inside, outside, 1 - good_share(slo, criterion), tolerance)
    rate = round_rate(inside.rate + share * (outside.rate - inside.rate))
    if rate in (inside.rate, outside.rate):  # three digits cannot part them further
        return Step(None)
    return Step(rate)


def _step(probe: Probe, slo: Slo, criterion: str, most: float, tolerance: float) -> float:
    """How far from a probe on one side of the SLO to look for the other side, as a share of
    its rate: by the square root of how far its p95 is from the SLO's (p95 grows faster than
    the rate near the capacity), at least as far as would close the bracket (tolerance) and
    `most` at most; `most` by goodput."""
    if criterion != "p95" or not probe.p95_ms:
        return most
    ratio = math.sqrt(slo.p95_ms / probe.p95_ms)
    if most > 1:
        return min(max(ratio, (1 + tolerance) * (1 - ROUNDING)), most)
    return max(min(ratio, (1 + ROUNDING) / (1 + tolerance)), most)


def _rate(probe: Probe) -> float:
    return probe.rate


def _closing(
    valid: list[Probe], inside: Probe, outside: Probe, level: float, tolerance: float
) -> float:
    """Where in the bracket to probe next, as a share of it. The fitted capacity is where the
    share of requests over the SLO meets `level` on the monotone curve through every valid
    probe. Within tolerance of one end, the next probe goes to the rate that closes the bracket
    if the fit is right; else CLOSE × tolerance from the fit towards the farther end, so that
    the probe after it can close it. The middle where the probes do not count their requests
    (files before schema 4) or the curve does not cross `level` between them."""
    counted = [probe for probe in valid if probe.attempts]
    if inside not in counted or outside not in counted:
        return 0.5
    rates = [probe.rate for probe in counted]
    over = [1 - (probe.good_requests or 0) / probe.attempts for probe in counted]
    rate = crossing(rates, over, [probe.attempts for probe in counted], level)
    if rate is None or not inside.rate < rate < outside.rate:
        return 0.5
    closes_above = inside.rate * (1 + tolerance) * (1 - ROUNDING)  # outside there: converged
    closes_below = outside.rate / (1 + tolerance) * (1 + ROUNDING)  # inside there: converged
    if rate <= closes_above or rate >= closes_below:
        rate = closes_above if rate <= closes_above else closes_below
    elif rate / inside.rate >= outside.rate / rate:
        rate *= 1 - CLOSE * tolerance
    else:
        rate *= 1 + CLOSE * tolerance
    share = (rate - inside.rate) / (outside.rate - inside.rate)
    return min(max(share, INSIDE[0]), INSIDE[1])


def capacity_of(probes: list[Probe]) -> float | None:
    return max(
        (probe.rate for probe in probes if probe.valid and probe.within and not probe.ramp),
        default=None,
    )


def sure_of(probes: list[Probe]) -> float | None:
    """The highest rate the confidence bound settled within the SLO."""
    settled = [p for p in probes if p.valid and p.within and p.settled and not p.ramp]
    return max((probe.rate for probe in settled), default=None)


def search_at_scale(
    session: ScaleSession,
    force: bool,
    seed: Estimate | None = None,
    beaten_at: float | None = None,
) -> ScaleCapacity:
    """Probe at the session's scale until the capacity is found; resumes from capacity.json.
    A tune gives `seed`, the capacity of the nearest configuration it measured (no ramp then),
    and `beaten_at`, the best's capacity: a probe clearly outside the SLO below it ends the
    search, this configuration cannot beat the best."""
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
        scale.estimate = seed or _estimate(session, reports)
        write_capacity(path, found)
        print(f"capacity at {models} replica(s): from {_estimated(scale.estimate)}", flush=True)
    auto = matrix.capacity.probe_time == AUTO
    ramp = auto and not scale.estimate.measured
    settings = (matrix.capacity.tolerance, matrix.slo, matrix.capacity.criterion, ramp)
    step = _next(scale, settings, beaten_at)
    while step.rate is not None:
        began = time.monotonic()
        said = f"ramp to {step.rate:g}/s" if step.ramp else f"rate={step.rate:g}/s"
        print(f"[probe {len(scale.probes) + 1}] {target} models={models} {said}", flush=True)
        probe = (
            ramp_probe(session, step.rate) if step.ramp else flat_probe(session, step.rate, auto)
        )
        scale.probes.append(probe)
        scale.seconds += time.monotonic() - began
        scale.capacity_rps, scale.sure_rps = capacity_of(scale.probes), sure_of(scale.probes)
        write_capacity(path, found)
        step = _next(scale, settings, beaten_at)
    scale.capacity_rps, scale.sure_rps = capacity_of(scale.probes), sure_of(scale.probes)
    scale.complete, scale.note = True, step.note
    write_capacity(path, found)
    print(f"capacity at {models} replica(s): {_said(scale)}", flush=True)
    return scale


def beaten(probes: list[Probe], best_rps: float | None) -> Probe | None:
    """A probe clearly outside the SLO (settled by the bound, or ended early) at a rate under
    `best_rps`: the capacity here is below it."""
    if best_rps is None:
        return None
    clearly = [p for p in probes if p.valid and not p.within and (p.settled or p.ended_early)]
    return next((p for p in clearly if not p.ramp and p.rate < best_rps), None)


def _next(scale: ScaleCapacity, settings: tuple, beaten_at: float | None) -> Step:
    under = beaten(scale.probes, beaten_at)
    if under is not None:
        return Step(None, f"outside the SLO at {under.rate:g}/s, under the best's {beaten_at:g}/s")
    return next_step(scale.probes, scale.estimate.rps, *settings)


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
