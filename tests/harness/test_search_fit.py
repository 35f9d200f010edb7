"""The capacity search's judgement, against what is known: the confidence bound's error rates
against independent draws of a known share, the monotone fit against a known curve, and the
steps the search takes from probes whose answers are given, and the last look that confirms or
overrules its answer."""

import random
from dataclasses import replace

import pytest

from harness.capacity import Probe
from harness.matrix import Slo
from harness.search_fit import (
    CONFIDENCE,
    INSIDE,
    OUTSIDE,
    can_lean_inside,
    crossing,
    design_effect,
    pooled,
    settled,
    settled_together,
)
from harness.search_steps import RAMP_FIRST, Step, capacity_of, next_step, round_rate

SLO = Slo(p95_ms=100, max_failure_ratio=0.01)


def verdicts(share: float, requests: int, trials: int = 2000) -> dict[str | None, float]:
    draw = random.Random(7)
    counts: dict[str | None, int] = {INSIDE: 0, OUTSIDE: 0, None: 0}
    for _ in range(trials):
        good = sum(draw.random() < share for _ in range(requests))
        counts[settled(good, requests, 0.95)] += 1
    return {verdict: count / trials for verdict, count in counts.items()}


@pytest.mark.parametrize("requests", [125, 400])
def test_a_p95_exactly_at_the_slo_is_settled_wrongly_at_most_as_often_as_the_confidence_allows(
    requests,
):
    found = verdicts(0.95, requests)
    assert found[INSIDE] <= 1 - CONFIDENCE + 0.01, found
    assert found[OUTSIDE] <= 1 - CONFIDENCE + 0.01, found


def test_the_issues_probe_of_125_requests_whose_p95_is_outside_is_not_called_inside():
    # At 12.5 req/s on one 40 ms server, about 90 % of requests keep 100 ms: its p95 is over it.
    # A sample p95 under 100 ms (118 of 125 good or more) comes often; a bound under it, rarely.
    found = verdicts(0.90, 125)
    assert found[INSIDE] < 0.01, found
    assert verdicts(0.995, 400)[INSIDE] > 0.9
    assert verdicts(0.85, 400)[OUTSIDE] > 0.9


def clustered_seconds(draw: random.Random, seconds: int, per_second: int) -> list[tuple[int, int]]:
    """A queue's seconds, good share 0.95 overall: most all good, one in ten a busy period in
    which half are late."""
    out = []
    for _ in range(seconds):
        share = 0.5 if draw.random() < 0.1 else 1.0
        out.append((sum(draw.random() < share for _ in range(per_second)), per_second))
    return out


def test_seconds_that_vary_together_settle_a_share_at_the_slo_no_more_often_than_allowed():
    # 20 s of 35 requests whose true share good is exactly 0.95, late ones in clusters: the
    # bound on the requests as counted settles a wrong verdict far more often than 5 %; on as
    # many as their design effect leaves, about as often as the confidence allows, once the
    # window saw a late request at all (one that saw none, nothing could judge: 0.9^20).
    draw, trials = random.Random(11), 400
    wrong_counted = wrong_together = saw_late = 0
    for _ in range(trials):
        seconds = clustered_seconds(draw, 20, 35)
        good, attempts = sum(g for g, _ in seconds), sum(a for _, a in seconds)
        wrong_counted += settled(good, attempts, 0.95) is not None
        if good < attempts:
            saw_late += 1
            wrong_together += settled_together(seconds, 0.95) is not None
    assert wrong_counted / trials > 0.5
    assert wrong_together / saw_late <= 1.5 * (1 - CONFIDENCE)
    # Independent requests keep (nearly) all their number: their seconds vary as a binomial's.
    independent = [(sum(draw.random() < 0.97 for _ in range(35)), 35) for _ in range(20)]
    assert design_effect(independent) < 2
    # Too few seconds to tell how they vary: the requests as counted.
    assert design_effect(clustered_seconds(draw, 4, 35)) == 1.0


def test_pooling_adjacent_violators_gives_the_nearest_non_decreasing_sequence():
    assert pooled([1, 3, 2, 4], [1, 1, 1, 1]) == [1, 2.5, 2.5, 4]
    assert pooled([5, 1], [3, 1]) == [4, 4]
    assert pooled([0.1, 0.2], [1, 1]) == [0.1, 0.2]


def test_the_fit_finds_where_a_known_monotone_curve_meets_the_level():
    def curve(rate: float) -> float:
        return (rate / 40) ** 4  # 0.05 at 18.9 req/s

    rates = [10, 16, 20, 30]
    found = crossing(rates, [curve(rate) for rate in rates], [300] * 4, 0.05)
    assert found == pytest.approx(40 * 0.05**0.25, rel=0.02)
    # A probe out of order (noise) is pooled with its neighbour, not followed.
    noisy = crossing([10, 16, 20, 30], [0.01, 0.06, 0.03, 0.3], [300] * 4, 0.05)
    assert 20 < noisy < 30
    assert crossing([10, 16], [0.06, 0.07], [300] * 2, 0.05) is None  # never under the level


def probe(rate: float, p95_ms: float, within: bool, good: int = 0, attempts: int = 0) -> Probe:
    return Probe(
        rate,
        p95_ms,
        0.0,
        True,
        within,
        f"1_rate{rate:g}.html",
        attempts=attempts or None,
        good_requests=good if attempts else None,
        settled=bool(attempts),
    )


def test_an_auto_search_ramps_first_then_probes_under_where_the_ramp_turned():
    first = next_step([], 50.0, 0.05, SLO, ramp=True)
    assert first.ramp and first.rate == 75.0
    ramp = Probe(75.0, 900.0, 0.0, True, False, "1_shape-capacity-ramp.html", ramp=True,
                 turn_rps=48.0)  # fmt: skip
    assert next_step([ramp], 50.0, 0.05, SLO, ramp=True).rate == RAMP_FIRST * 48.0
    assert not next_step([ramp], 50.0, 0.05, SLO, ramp=True).ramp
    assert next_step([], 50.0, 0.05, SLO).rate == 45.0  # a fixed probe time: no ramp


def test_a_probe_just_outside_steps_down_only_as_far_as_closes_the_bracket():
    outside = probe(38.0, 107.0, False, 370, 400)  # settled outside by the bound
    step = next_step([outside], 50.0, 0.05, SLO)
    assert 38.0 / 1.05 <= step.rate <= 38.0 / 1.05 * 1.01  # closing, rounded as it must be
    # Unsure, called outside: one closing step down, as by its p95; under another as unsure,
    # the search is walking down through them a tolerance at a time: 3 tolerances down.
    unsure = replace(probe(38.0, 101.0, False, 378, 400), settled=False)
    assert next_step([unsure], 50.0, 0.05, SLO).rate == step.rate
    under = replace(unsure, rate=36.2, report="1_rate36.2.html")
    assert next_step([unsure, under], 50.0, 0.05, SLO).rate == pytest.approx(36.2 * 0.85, rel=0.005)
    far = next_step([probe(60.0, 900.0, False)], 50.0, 0.05, SLO)
    assert far.rate == pytest.approx(60.0 * 0.7, rel=0.005)


def test_the_bracket_closes_where_the_fitted_curve_meets_the_slo():
    # 4 % over the SLO at 30/s, 20 % at 40/s: the fitted curve meets 5 % at 30.6/s, within
    # the tolerance of 30: the next probe is the one that closes the bracket if it is right.
    probes = [probe(30.0, 90.0, True, 384, 400), probe(40.0, 160.0, False, 320, 400)]
    step = next_step(probes, 50.0, 0.05, SLO)
    assert 30.0 * 1.05 * 0.99 <= step.rate <= 30.0 * 1.05
    # 2 % over at 30/s: it meets 5 % at 31.7/s; the next probe steps 2 % past it, towards the
    # bracket's farther end, so that the one after can close it.
    probes = [probe(30.0, 80.0, True, 392, 400), probe(40.0, 160.0, False, 320, 400)]
    step = next_step(probes, 50.0, 0.05, SLO)
    assert step.rate == pytest.approx((30 + 10 * 0.03 / 0.18) * 1.02, rel=0.005)
    # Probes of files before schema 4 count no requests: the bracket is halved.
    old = [probe(30.0, 80.0, True), probe(40.0, 160.0, False)]
    assert next_step(old, 50.0, 0.05, SLO).rate == 35.0


@pytest.mark.parametrize("inside_rps", [100.0, 104.0, 117.0, 121.0, 998.0])
def test_a_step_meant_to_close_the_bracket_still_closes_it_once_rounded_to_three_digits(
    inside_rps,
):
    # Half a percent over at the inside probe, half the requests over far above it: the fit
    # meets 5 % just above the inside probe, and the next probe goes where it closes the
    # bracket. Three digits move a rate up to 0.5 % (117 × 1.05 = 122.85, but 122.6 → 123).
    probes = [
        probe(inside_rps, 90.0, True, 398, 400),
        probe(round_rate(inside_rps * 1.16), 900.0, False, 200, 400),
    ]
    step = next_step(probes, 200.0, 0.05, SLO)
    assert inside_rps < step.rate <= inside_rps * 1.05
    outside = probe(step.rate, 110.0, False, 370, 400)
    assert next_step([*probes, outside], 200.0, 0.05, SLO) == Step(None)


def test_where_the_fit_creeps_up_a_tolerance_at_a_time_the_next_probe_halves_the_bracket():
    # The real stack's grid tune (MAX_BATCH=1 at 2 replicas): its first probes, far overloaded,
    # put the outside end at 60.8/s with a fifth of its requests good; every probe under it was
    # within with none over. The fitted curve hugs the inside end, and each probe stepped up a
    # tolerance and was within again: seven probes from 42.6/s to 59.4/s. Two such steps that
    # did not halve the bracket make the next probe its middle; on a server within up to 59/s,
    # the search converges in five probes where it took seven.
    probes = [
        probe(86.9, 900.0, False, 34, 434),
        probe(60.8, 900.0, False, 78, 355),
        probe(42.6, 146.0, True, 337, 341),
    ]
    taken = []
    while (step := next_step(probes, 60.0, 0.05, SLO)).rate is not None:
        taken.append(step.rate)
        within = step.rate <= 59.0
        probes.append(
            probe(
                step.rate, 60.0 if within else 900.0, within, *((400, 400) if within else (78, 355))
            )
        )
    assert taken[:3] == [44.5, 47.9, round_rate((47.9 + 60.8) / 2)], taken
    assert len(taken) == 5 and capacity_of(probes) >= 59.0 / 1.05, taken


def test_a_closed_bracket_holds_its_answer_for_the_run_time_before_it_is_the_answer():
    # 30/s within in a probe of 5 s, 31.4/s outside: closed. 30/s is held for 20 s first.
    short = [
        replace(probe(30.0, 90.0, True, 398, 400), seconds=5.0),
        replace(probe(31.4, 130.0, False, 300, 400), seconds=5.0),
    ]
    step = next_step(short, 50.0, 0.05, SLO, look_s=20.0)
    assert step.rate == 30.0 and step.last_look
    # Within for its 20 s: the answer stands.
    held = [*short, replace(probe(30.0, 95.0, True, 1590, 1600), seconds=20.0, last_look=True)]
    assert next_step(held, 50.0, 0.05, SLO, look_s=20.0).rate is None
    assert capacity_of(held) == 30.0
    # A probe that measured the run time already needs no last look; nor a fixed probe time.
    long = [replace(short[0], seconds=19.5), short[1]]
    assert next_step(long, 50.0, 0.05, SLO, look_s=20.0).rate is None
    assert next_step(short, 50.0, 0.05, SLO).rate is None
    # An invalid last look is run again as the last look.
    lost = [*short, replace(held[-1], valid=False, within=False)]
    again = next_step(lost, 50.0, 0.05, SLO, look_s=20.0)
    assert again.rate == 30.0 and again.last_look


def test_an_unsure_answer_is_looked_at_one_closing_step_under_it():
    # 30/s within by the bound at 60 % only, 31.4/s outside: the look goes to 30 / 1.05.
    short = [
        replace(probe(30.0, 96.0, True, 382, 400), seconds=9.0, settled=False),
        replace(probe(31.4, 130.0, False, 300, 400), seconds=9.0),
    ]
    step = next_step(short, 50.0, 0.05, SLO, look_s=20.0)
    assert step.rate == pytest.approx(30.0 / 1.05, rel=0.005) and step.last_look
    # Within for its 20 s: that rate is the answer, not the unsure one above it.
    look = replace(probe(step.rate, 92.0, True, 1590, 1600), seconds=20.0, last_look=True)
    assert next_step([*short, look], 50.0, 0.05, SLO, look_s=20.0).rate is None
    assert capacity_of([*short, look]) == step.rate
    # Outside: it overrules the short probes, and the search steps down from it, looks only.
    out = replace(look, p95_ms=104.0, within=False, good_requests=1500)
    down = next_step([*short, out], 50.0, 0.05, SLO, look_s=20.0)
    assert down.rate < step.rate and down.last_look
    assert capacity_of([*short, out]) is None
    # A probe settled within between the two: the look goes there instead.
    sure = replace(probe(29.2, 80.0, True, 400, 400), seconds=5.0)
    step = next_step([sure, *short], 50.0, 0.05, SLO, look_s=20.0)
    assert step.rate == 29.2 and step.last_look


def test_a_last_look_outside_overrules_every_short_probe_within():
    probes = [
        replace(probe(27.0, 70.0, True, 400, 400), seconds=5.0),
        replace(probe(30.0, 90.0, True, 398, 400), seconds=5.0),
        replace(probe(31.4, 130.0, False, 300, 400), seconds=5.0),
        replace(probe(30.0, 120.0, False, 1400, 1600), seconds=20.0, last_look=True),
    ]
    # Neither 30/s nor 27/s counts as within any more: short probes read high here. No answer
    # for now; its p95 puts the capacity within two closing steps of it, so the next look goes
    # where, within, it closes the bracket.
    assert capacity_of(probes) is None
    step = next_step(probes, 50.0, 0.05, SLO, look_s=20.0)
    assert step.rate == pytest.approx(30.0 / 1.05, rel=0.005) and step.last_look
    # Farther outside, it steps down by its p95, with probes as long.
    farther = [*probes[:3], replace(probes[3], p95_ms=150.0)]
    down = next_step(farther, 50.0, 0.05, SLO, look_s=20.0)
    assert down.rate == pytest.approx(30.0 * (100 / 150) ** (1 / 3), rel=0.005) and down.last_look
    # A look far outside steps down three tolerances, not by its p95 alone.
    alone = [replace(probe(30.0, 400.0, False, 1200, 1600), seconds=20.0, last_look=True)]
    down = next_step(alone, 50.0, 0.05, SLO, look_s=20.0)
    assert down.rate == pytest.approx(30.0 * 0.85, rel=0.005) and down.last_look


def test_below_an_unsure_probe_outside_a_coarse_tolerance_steps_down_no_further_than_shrink():
    # Three tolerances of 25 % would be 75 % down: the search went 10.6 → 2.65 → 0.662 req/s on
    # a slow LLM, each probe too short to settle, and ended with too few requests to judge.
    unsure = replace(probe(10.6, 700.0, False, 59, 64), settled=False)
    step = next_step([unsure], 11.8, 0.25, SLO, criterion="goodput")
    assert step.rate == pytest.approx(10.6 * 0.7, rel=0.005)


def test_too_few_requests_to_lean_inside_even_were_all_good_leave_the_probe_its_own_figures():
    # 1 − 0.95^n ≥ 0.6 from n = 18: fewer, every one good, still could not lean inside.
    assert not can_lean_inside(17, 0.95) and can_lean_inside(18, 0.95)
    assert not can_lean_inside(0, 0.95)
    # And the bound itself agrees: 17 of 17 good is unsure at 60 %, 18 of 18 leans inside.
    assert settled(17, 17, 0.95, 0.6) is None and settled(18, 18, 0.95, 0.6) == INSIDE


def test_a_closing_probe_that_could_only_send_the_look_to_the_settled_probe_under_it_is_skipped():
    # 80.6/s settled within, 87.2/s unsure outside (the benchmark's M/D/2): the probe that
    # would close the bracket, at 83.5/s, sends the look back to 80.6/s outside the SLO, or
    # unsure within (its closing step under it, 80.0/s, is under 80.6/s): the look goes there
    # at once.
    inside = replace(probe(80.6, 79.0, True, 400, 400), seconds=5.0)
    outside = replace(probe(87.2, 116.0, False, 400, 430), seconds=5.0, settled=False)
    step = next_step([inside, outside], 100.0, 0.05, SLO, look_s=20.0)
    assert step == Step(80.6, last_look=True)
    # The look held it within, unsure over its 20 s: the answer, not a closing probe after all.
    look = replace(
        inside,
        p95_ms=88.0,
        good_requests=1530,
        attempts=1600,
        settled=False,
        seconds=20.0,
        last_look=True,
    )
    assert next_step([inside, outside, look], 100.0, 0.05, SLO, look_s=20.0) == Step(None)
    assert capacity_of([inside, outside, look]) == 80.6
    # The probe is worth its seconds where the bound might settle it within, under a probe
    # settled outside; where the look would go to it or above 80.6/s, under a wider bracket;
    # and where there is no last look.
    settled_outside = replace(outside, settled=True)
    closing = next_step([inside, settled_outside], 100.0, 0.05, SLO, look_s=20.0)
    assert 80.6 < closing.rate < 87.2 and not closing.last_look
    wider = replace(outside, rate=89.4, report="1_rate89.4.html")
    closing = next_step([inside, wider], 100.0, 0.05, SLO, look_s=20.0)
    assert closing.rate * 1.006 / 1.05 > 80.6 and not closing.last_look
    assert 80.6 < next_step([inside, outside], 100.0, 0.05, SLO).rate < 87.2
