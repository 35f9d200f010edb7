"""The capacity search at one replica count: the highest Poisson arrival rate whose p95 stays
within the SLO's `p95_ms` and whose failures within its `max_failure_ratio` (MLPerf's server
scenario asks the same of a system). Where it starts (harness/search_estimate.py), then probe
after probe (harness/probing.py) as harness/search_steps.py decides, until it converges.

Every probe is a full open-loop run with its own report (`{models}_rate{R}`, the ramp's
`{models}_shape-capacity-ramp`). The probes so far live in capacity.json, so an interrupted
search resumes where it stopped, on the same stack setup only; the search is deterministic in
them.
"""

import time
from collections.abc import Callable

from harness.capacity import (
    CapacityFile,
    Estimate,
    ScaleCapacity,
    capacity_path,
    read_capacity,
    write_capacity,
)
from harness.probing import (
    AUTO,
    POISSON,
    counted_before,
    flat_probe,
    look_seconds,
    ramp_probe,
)
from harness.record.names import number_label
from harness.search_estimate import estimate_at_scale
from harness.search_steps import Step, beaten, capacity_of, next_step, round_rate, sure_of
from harness.session import ScaleSession

LOOK_AWAITED = "short probes only so far, its last look awaited"
# Asked by the search before its last look, with the scale so far: why the look is not worth
# its time (the search then ends on its short probes' answer), or None to hold it.
Unheld = Callable[[ScaleCapacity], str | None]


def search_at_scale(
    session: ScaleSession,
    force: bool,
    seed: Estimate | None = None,
    beaten_at: float | None = None,
    unheld: Unheld | None = None,
    until_look: bool = False,
) -> ScaleCapacity:
    """Probe at the session's scale until the capacity is found; resumes from capacity.json.
    A tune gives `seed`, the capacity of the nearest configuration it measured (no ramp then),
    `beaten_at`, the best's capacity: a probe clearly outside the SLO below it ends the
    search, this configuration cannot beat the best; `unheld`, which may skip the last look
    where the short probes' answer already cannot change the tune's pick; and `until_look`,
    which stops the search before its first last look and leaves it open (not `complete`),
    with its short probes' answer, for a later call to hold or skip."""
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
        scale.estimate = seed or estimate_at_scale(session, reports)
        write_capacity(path, found)
        print(f"capacity at {models} replica(s): from {_estimated(scale.estimate)}", flush=True)
    auto = matrix.capacity.probe_time == AUTO
    ramp = auto and not scale.estimate.measured
    look_s = look_seconds(matrix)
    settings = (matrix.capacity.tolerance, matrix.slo, matrix.capacity.criterion, ramp, look_s)
    step = _next(scale, settings, beaten_at, unheld, until_look)
    while step.rate is not None:
        began = time.monotonic()
        said = f"ramp to {step.rate:g}/s" if step.ramp else f"rate={step.rate:g}/s"
        said += f" for {matrix.run_time}, the last look" if step.last_look else ""
        print(f"[probe {len(scale.probes) + 1}] {target} models={models} {said}", flush=True)
        if step.ramp:
            probe = ramp_probe(session, step.rate)
        else:
            earlier = counted_before(scale.probes, step.rate) if step.last_look else None
            probe = flat_probe(session, step.rate, auto, step.last_look, earlier)
        scale.probes.append(probe)
        scale.seconds += time.monotonic() - began
        scale.capacity_rps, scale.sure_rps = capacity_of(scale.probes), sure_of(scale.probes)
        write_capacity(path, found)
        step = _next(scale, settings, beaten_at, unheld, until_look)
    scale.capacity_rps, scale.sure_rps = capacity_of(scale.probes), sure_of(scale.probes)
    scale.complete, scale.note = step.note != LOOK_AWAITED, step.note
    write_capacity(path, found)
    print(f"capacity at {models} replica(s): {_said(scale)}", flush=True)
    return scale


def _next(
    scale: ScaleCapacity,
    settings: tuple,
    beaten_at: float | None,
    unheld: Unheld | None,
    until_look: bool,
) -> Step:
    under = beaten(scale.probes, beaten_at)
    if under is not None:
        return Step(None, f"outside the SLO at {under.rate:g}/s, under the best's {beaten_at:g}/s")
    step = next_step(scale.probes, scale.estimate.rps, *settings)
    first_look = step.last_look and not any(probe.last_look for probe in scale.probes)
    if first_look and until_look:
        return Step(None, LOOK_AWAITED)
    why = unheld(scale) if first_look and unheld is not None else None
    return step if why is None else Step(None, why)


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
