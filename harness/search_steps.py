"""The capacity search's steps, towards the highest Poisson arrival rate whose p95 stays within
the SLO's `p95_ms` and whose failures within its `max_failure_ratio` (MLPerf's server scenario
asks the same of a system).

It starts from an estimate of the most the stack can serve (harness/search_estimate.py). With
`capacity.probe_time` "auto" (the default), a ramp of RAMP_S seconds first raises the rate from
RAMP_FROM to RAMP_TO of it (harness/probing.py), and where its p95 turned over the SLO becomes
the estimate. In a tune, the capacity of the nearest configuration already measured is the
estimate instead, without a ramp (harness/tuning.py). The first probe is just under it; then,
until one valid probe within the SLO sits below one outside it, the search steps down (to the
outside probe's answered rate where the stack was overloaded, at most SHRINK of it) or up (by
its p95's distance from the SLO's, GROW at most, and no further than just above the estimate
while under it); then it closes the bracket where a monotone curve through every probe so far
meets the SLO (harness/search_fit.py; clamped to the bracket's middle part, so it always
shrinks; at its middle where two steps did not halve it), until the two are within
`capacity.tolerance` of each other (a closing probe that could only send the last look back to
a settled inside end is not run). A server that cannot keep up has broken the SLO: the
arrivals it makes the generator drop are failures, the probe is valid and outside. An invalid
probe (the generator fell behind) is run once more, and a second invalid one at the same rate
ends the search with the reason.

A probe is within the SLO or outside it as a confidence bound on its p95 says
(harness/search_fit.py); where the bound cannot tell at its confidence, at UNSURE_CONFIDENCE;
the scale records `sure_rps`, the highest rate the bound settled inside. An "auto" probe lasts
AUTO_REQUESTS requests (AUTO_S seconds at least and at most) and ends as soon as the bound
settles it either way; any probe ends once it has clearly broken the SLO (harness/verdict.py).
Its few seconds steer the search, but may miss how the stack holds a rate over longer (a noisy
machine's slow spells, a queue's long busy periods): so once the bracket closes, the answer's rate
is held for the matrix's `run_time` (the last look, unless its probe measured that long already; it
ends early only once settled outside; at a rate a short probe measured, it counts that probe's
seconds and requests, harness/probing.py); where the bound left the answer unsure, one closing step
under it, and within, that rate is the answer. Outside the SLO, the last look overrules every
shorter probe within it, at its rate and below, and the search closes in below it, every probe from
then on held as long.

Each step is decided from the probes so far alone (harness/search.py runs them), so an
interrupted search resumes where it stopped.
"""

import math
from dataclasses import dataclass

from harness.capacity import Probe
from harness.matrix import Slo
from harness.probing import RAMP_TO
from harness.search_fit import crossing
from harness.verdict import good_share

FIRST = 0.9  # the first probe, as a share of the estimate
ABOVE = 1.1  # the farthest step up while under the estimate, as a share of it
SHRINK = 0.7  # the farthest step down from an outside probe, as a share of its rate
GROW = 1.5  # and up from an inside one
# Below an unsure probe called outside under another, step down this many tolerances at least
# (SHRINK at most).
UNSURE_STEP = 3
OVERLOADED = 0.9  # a probe answering under this share of its rate ran the stack flat out
MAX_PROBES = 12
LOWEST_RATE = 0.1  # requests/s: below this, the stack cannot take the load at all
SIGNIFICANT_DIGITS = 3
INSIDE = (0.1, 0.9)  # where in the bracket an interpolated probe may fall
CLOSE = 0.4  # an interpolated probe's step beside the fitted capacity, as a share of tolerance
# Room for a rate's three significant digits, which move it by up to half a unit of the third
# (0.5 % at the bottom of a decade: 122.6 becomes 123): a step meant to close the bracket that
# rounding carried past it costs a probe.
ROUNDING = 0.006
RAMP_FIRST = 0.75  # the first flat probe after a ramp, as a share of where its p95 turned
LONG_ENOUGH = 0.9  # a probe that measured this share of the last look's length needs none
# Near a queue's capacity its latency grows as the rate to this power at least (M/M/1's wait,
# S / (1 − ρ), at ρ = 0.75; more above): the p95 ratio's root a step goes by.
STEEPNESS = 3


@dataclass(frozen=True)
class Step:
    """What the search does next: probe `rate` (ramp up to it; hold it as the last look), or
    stop with `note` (None: it converged)."""

    rate: float | None
    note: str | None = None
    ramp: bool = False
    last_look: bool = False


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
    look_s: float | None = None,
) -> Step:
    """From the probes so far, the next rate to try. Deterministic, so a search resumes.
    `look_s`: how long the last look at the answer lasts (None: no last look, every probe is
    as long already)."""
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
        same = [probe for probe in probes if probe.rate == probes[-1].rate and not probe.valid]
        if len(same) >= 2:
            reasons = "; ".join(probes[-1].invalid_reasons)
            return Step(None, f"two probes at {probes[-1].rate:g}/s were invalid: {reasons}")
        # Once more, as it was: the machine may have been busy.
        return Step(probes[-1].rate, last_look=probes[-1].last_look)
    measured = [probe for probe in probes if probe.valid]
    valid = standing(measured)
    inside, outside = _ends(valid)
    # Once a last look was outside, short probes are known to read high here: every probe from
    # then on is held as long.
    as_long = any(probe.last_look and not probe.within for probe in valid)
    if inside is None and outside is None:
        return Step(round_rate(first))
    if inside is None:
        rate = outside.rate * _step(outside, slo, criterion, SHRINK, tolerance)
        if outside.last_look:
            # Shorter probes under it were within: the capacity is near. Where its p95 puts it
            # within two steps that close a bracket, the next look goes one (within there, it
            # closes the bracket: a look saved); else by its p95, three tolerances at most.
            closing = (1 + ROUNDING) / (1 + tolerance)
            if rate >= outside.rate * closing**2:
                rate = outside.rate * closing
            rate = max(rate, outside.rate * (1 - UNSURE_STEP * tolerance))
        elif _unsure(outside) and any(_unsure(p) and p.rate > outside.rate for p in valid):
            # Unsure, called outside, under another so: the search is walking down through
            # probes as unsure, a tolerance at a time. Far enough for the bound to settle one
            # inside, then the fit closes the bracket.
            rate = min(rate, outside.rate * max(1 - UNSURE_STEP * tolerance, SHRINK))
        if outside.rps is not None and outside.rps < OVERLOADED * outside.rate:
            rate = min(rate, FIRST * outside.rps)  # what it served flat out bounds the capacity
        if rate < LOWEST_RATE:
            return Step(None, f"outside the SLO even at {outside.rate:g}/s")
        return Step(round_rate(rate), last_look=as_long)
    if outside is None:
        rate = inside.rate * _step(inside, slo, criterion, GROW, tolerance)
        if inside.rate * (1 + tolerance) < ABOVE * estimate:
            # Just above the estimate first, at most: where it was measured (a tune's seed, a
            # burst) it is near, and a p95 mostly service time overstates the room left.
            rate = min(rate, ABOVE * estimate)
        return Step(round_rate(rate), last_look=as_long)
    if _closed(inside.rate, outside.rate, tolerance):
        return _answer(inside, valid, look_s, tolerance)
    level = 1 - good_share(slo, criterion)
    halved = _halved(_ends(standing(measured[:-2])), inside, outside)
    share = _closing(valid, inside, outside, level, tolerance) if halved else 0.5
    rate = round_rate(inside.rate + share * (outside.rate - inside.rate))
    if rate in (inside.rate, outside.rate):  # three digits cannot part them further
        return _answer(inside, valid, look_s, tolerance)
    if (
        look_s is not None
        and not as_long
        and _looks_under_it_anyway(inside, outside, rate, tolerance)
    ):
        return _answer(inside, valid, look_s, tolerance)
    return Step(rate, last_look=as_long)


def _ends(valid: list[Probe]) -> tuple[Probe | None, Probe | None]:
    """The bracket's ends among the probes that stand: the highest rate within (at one rate,
    its last look: the answer once it is held), and the lowest outside above it."""
    inside = max((p for p in valid if p.within), default=None, key=lambda p: (p.rate, p.last_look))
    above = [p for p in valid if not p.within and (inside is None or p.rate > inside.rate)]
    return inside, min(above, default=None, key=_rate)


def _halved(before: tuple[Probe | None, Probe | None], inside: Probe, outside: Probe) -> bool:
    """Whether the last two probes left the bracket (`inside`, `outside`) half as wide at most
    as it was `before` them, as two bisections would a quarter (or it had none). Where the fit's
    steps do less, it is off there (an outside end far overloaded: its curve hugs the inside
    end, and each step creeps up a tolerance, within again): the next probe is the bracket's
    middle (Brent's safeguard)."""
    was_inside, was_outside = before
    if was_inside is None or was_outside is None:
        return True
    return _spread(inside.rate, outside.rate) <= _spread(was_inside.rate, was_outside.rate) / 2


def standing(valid: list[Probe]) -> list[Probe]:
    """The valid probes whose verdicts stand: a last look outside the SLO overrules every
    shorter probe within it (its longer window saw what theirs missed, and what they missed at
    its rate they likely missed just under it too); a shorter probe outside stays outside."""
    if not any(probe.last_look and not probe.within for probe in valid):
        return valid
    return [p for p in valid if p.last_look or not p.within]


def _answer(inside: Probe, valid: list[Probe], look_s: float | None, tolerance: float) -> Step:
    """The bracket has closed on `inside`: the answer, after a last look at it for `look_s`
    where it measured less (its few seconds may have missed how the stack holds the rate).
    Where the bound left `inside` unsure, the look goes one closing step under it: a short
    window near the capacity mostly misses the long busy periods a look sees, so a look at an
    unsure answer mostly comes back outside, and the look one step under it follows (or at a
    probe the bound settled within, between the two); within, the look under it is the answer
    (the unsure probe above it, within the tolerance)."""
    if look_s is None or inside.seconds is None or held(inside, look_s):
        return Step(None)  # no last look asked, or a file that cannot tell
    if inside.settled is not False:
        return Step(inside.rate, last_look=True)
    under = _closing_step_under(inside.rate, tolerance)
    # A probe the bound settled within between the two is as near, and surer.
    sure = [p.rate for p in valid if p.within and p.settled and under < p.rate < inside.rate]
    under = max(sure, default=under)
    if any(probe.within and held(probe, look_s) and probe.rate >= under for probe in valid):
        return Step(None)
    return Step(under, last_look=True)


def _looks_under_it_anyway(inside: Probe, outside: Probe, rate: float, tolerance: float) -> bool:
    """Whether a short probe at `rate`, between `inside`, settled within, and `outside`, unsure,
    could only send the last look to `inside` unless the bound settled it within: outside the
    SLO it closes the bracket on `inside`; unsure within, it closes it too, and the look one
    closing step under it falls at or under `inside`, which is looked at instead (`_answer`).
    A tolerance under a probe whose p95 the bound could not part from the SLO's, it is seldom
    settled within, so it is not worth its seconds: the look goes to `inside` at once, and
    once it has held `inside` within (settled or not), `inside` is the answer."""
    if not (inside.settled is True or inside.last_look) or not _unsure(outside):
        return False
    return (
        _closed(inside.rate, rate, tolerance)
        and _closed(rate, outside.rate, tolerance)
        and _closing_step_under(rate, tolerance) <= inside.rate
    )


def _closed(inside_rps: float, outside_rps: float, tolerance: float) -> bool:
    """Whether a bracket from `inside_rps` to `outside_rps` has converged."""
    return _spread(inside_rps, outside_rps) <= tolerance


def _spread(inside_rps: float, outside_rps: float) -> float:
    """A bracket's width, as a share of its inside end."""
    return (outside_rps - inside_rps) / inside_rps


def _closing_step_under(rate: float, tolerance: float) -> float:
    """Where a look one closing step under an unsure answer at `rate` goes: within there, the
    bracket from it to `rate` closes, once rounded."""
    return round_rate(rate * (1 + ROUNDING) / (1 + tolerance))


def held(probe: Probe, look_s: float) -> bool:
    """Whether a probe saw its rate for as long as the last look would: it was one, or it
    measured LONG_ENOUGH of it."""
    return probe.last_look or (probe.seconds or 0) >= LONG_ENOUGH * look_s


def _step(probe: Probe, slo: Slo, criterion: str, most: float, tolerance: float) -> float:
    """How far from a probe on one side of the SLO to look for the other side, as a share of
    its rate: by how far its p95 is from the SLO's, to the power 1/STEEPNESS, at least as far
    as would close the bracket (tolerance) and `most` at most; `most` by goodput."""
    if criterion != "p95" or not probe.p95_ms:
        return most
    ratio = (slo.p95_ms / probe.p95_ms) ** (1 / STEEPNESS)
    if most > 1:
        return min(max(ratio, (1 + tolerance) * (1 - ROUNDING)), most)
    return max(min(ratio, (1 + ROUNDING) / (1 + tolerance)), most)


def _unsure(probe: Probe) -> bool:
    """Whether the bound left the probe unsure, and nothing stopped it early."""
    return probe.settled is False and not probe.ended_early


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
    """The highest rate within the SLO; once a last look held one, the highest held (a short
    probe above it is the unsure answer the look went under)."""
    flat = standing([probe for probe in probes if probe.valid and not probe.ramp])
    looks = [probe for probe in flat if probe.last_look and probe.within]
    return max((probe.rate for probe in looks or flat if probe.within), default=None)


def short_answer(probes: list[Probe]) -> float | None:
    """The answer the short probes gave before the first last look; None without a look."""
    first = next((i for i, probe in enumerate(probes) if probe.last_look), None)
    return None if first is None else capacity_of(probes[:first])


def sure_of(probes: list[Probe]) -> float | None:
    """The highest rate the confidence bound settled within the SLO."""
    flat = standing([probe for probe in probes if probe.valid and not probe.ramp])
    return max((probe.rate for probe in flat if probe.within and probe.settled), default=None)


def beaten(probes: list[Probe], best_rps: float | None) -> Probe | None:
    """A probe clearly outside the SLO (settled by the bound, or ended early) at a rate under
    `best_rps`: the capacity here is below it."""
    if best_rps is None:
        return None
    clearly = [p for p in probes if p.valid and not p.within and (p.settled or p.ended_early)]
    return next((p for p in clearly if not p.ramp and p.rate < best_rps), None)
