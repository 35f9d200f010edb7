"""What the page says of a tune whose configurations were not all held for the run_time: the held
best leads the ranking and the sentence, and a short answer, which reads high, is not set against
it as if it were held."""

from dataclasses import replace

import pytest

from harness.analysis.tune import (
    describe_best,
    describe_ties,
    pareto,
    ranked,
    tied_with_best,
    tune_sentences,
)
from harness.matrix import Slo
from harness.tune.file import OK, Config, TuneFile


def config(batch: str, rps: float, held: bool) -> Config:
    return Config({"MAX_BATCH": batch}, 2, OK, capacity_rps=rps, held=held)


def test_the_held_best_leads_and_short_answers_follow_it_however_high_they_read():
    best, default, other = (
        config("4", 112.0, True),
        config("16", 115.0, False),
        config("1", 124.0, False),
    )
    tune = TuneFile("cpu", Slo(200, 0.01), "capacity", "grid", {"MAX_BATCH": ["1", "4", "16"]})
    tune.configs, tune.best, tune.default = [default, other, best], best, default
    assert ranked(tune) == [best, other, default]
    said = describe_best(tune)
    assert said.startswith("deploy MAX_BATCH=4 at 2 replicas: 112.0 req/s")
    assert "own settings (MAX_BATCH=16 at 2 replicas) were known by short probes only" in said
    assert "capacity against" not in said, "no gain measured against a short answer"
    # A held default: the gain, as before.
    tune.default = config("16", 100.0, True)
    assert "+12% capacity against the stack's own settings" in describe_best(tune)


def test_a_short_answer_pushes_no_held_configuration_off_the_pareto_front():
    held = [
        replace(config("4", 112.0, True), p95_ms=180.0),
        replace(config("1", 100.0, True), p95_ms=120.0),
    ]
    short = replace(config("16", 124.0, False), p95_ms=110.0)
    assert pareto([*held, short], "p95_ms", lower_is_better=True) == held


def test_configurations_within_the_tolerance_of_the_best_are_said_to_be_as_good():
    # The best's look kept 100 of its short probes' 110: a short answer reads as 10/11 of itself.
    best = replace(config("4", 100.0, True), short_rps=110.0)
    near, edge, below = config("16", 96.0, True), config("1", 95.0, True), config("8", 94.0, True)
    short_near, short_far = config("2", 107.0, False), config("32", 99.0, False)
    tune = TuneFile("cpu", Slo(200, 0.01), "capacity", "grid", {"MAX_BATCH": ["1", "4"]})
    # As tune.json reads back: the best is a copy of its configuration, not the same object.
    tune.configs, tune.best = [below, short_far, edge, best, near, short_near], replace(best)
    tied = tied_with_best(tune)
    assert [c.env["MAX_BATCH"] for c in tied] == ["2", "16", "1"], "within 5 %, nearest first"
    assert tied[0].capacity_rps == pytest.approx(97.27, abs=0.01), "107 read as 10/11 of it"
    said = tune_sentences(tune)
    assert said[1] == (
        "Within the search's tolerance (5%) of it, so not told apart by this tune:"
        " MAX_BATCH=2 at 2 replicas (97.3 req/s by its short probes, as the looks at its scale"
        " kept theirs); MAX_BATCH=16 at 2 replicas (96.0 req/s); MAX_BATCH=1 at 2 replicas"
        " (95.0 req/s). Any of them will do as well; choose among them by their cores and memory."
    )
    # By cost, the lowest cost per million is the best; within 5 % of it is within the tolerance.
    priced = [replace(c, cost_per_million=10_000 / c.capacity_rps) for c in (best, near, below)]
    tune.objective, tune.configs, tune.best = "cost", priced, priced[0]
    assert tied_with_best(tune) == [priced[1]]
    assert "MAX_BATCH=16 at 2 replicas ($104.17 per million)" in describe_ties(tune)
    # A tolerance of 2 % sets them all apart: nothing is said.
    tune.tolerance = 0.02
    assert tied_with_best(tune) == [] and describe_ties(tune) is None
