"""What a tune carries from one configuration to the next: the nearest one measured seeds a
search (scaled as a configuration measured at both scales scaled), the best is a held one, and a
configuration's answer is held only where, read as the looks at its scale kept theirs, it may beat
the best held."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harness.matrix import load_matrix
from harness.tune.file import OK, Config
from harness.tune.holding import best_held, short_kept, why_unheld
from harness.tuning import nearest_estimate

AXES = {"MAX_BATCH": ("1", "4"), "MAX_WAIT_MS": ("0", "5")}


def config(batch: str, wait: str, models: int, rps: float, held: bool | None = True) -> Config:
    env = {"MAX_BATCH": batch, "MAX_WAIT_MS": wait}
    return Config(env, models, OK, capacity_rps=rps, held=held)


def test_the_first_configuration_has_no_seed():
    assert nearest_estimate([], {"MAX_BATCH": "1", "MAX_WAIT_MS": "0"}, 1, AXES) is None


def test_at_its_own_scale_the_nearest_configurations_capacity_is_the_seed():
    measured = [config("1", "0", 1, 55.0), config("4", "0", 1, 65.0)]
    seed = nearest_estimate(measured, {"MAX_BATCH": "4", "MAX_WAIT_MS": "5"}, 1, AXES)
    assert seed.rps == 65.0
    nearest = "MAX_BATCH=4, MAX_WAIT_MS=0 at 1 replica(s), 65 req/s"
    assert seed.source == f"the nearest configuration measured: {nearest}"


def test_from_another_scale_it_scales_as_a_configuration_measured_at_both_did():
    # 1/0 went from 55 to 90.75 req/s with a second replica (1.65×, not 2×): 4/0 at 2 replicas
    # is seeded at 65 × 1.65, not 130.
    measured = [config("1", "0", 1, 55.0), config("1", "0", 2, 90.75), config("4", "0", 1, 65.0)]
    seed = nearest_estimate(measured, {"MAX_BATCH": "4", "MAX_WAIT_MS": "0"}, 2, AXES)
    assert seed.rps == pytest.approx(65.0 * 1.65)
    assert seed.source.endswith("scaled 1.65× as MAX_BATCH=1, MAX_WAIT_MS=0 from 1 to 2")
    # None measured at both scales: by replicas.
    alone = nearest_estimate(measured[2:], {"MAX_BATCH": "4", "MAX_WAIT_MS": "0"}, 2, AXES)
    assert alone.rps == 130.0


def test_the_best_is_a_held_answer_before_a_short_one():
    held, short = config("1", "0", 2, 95.0), config("4", "0", 2, 97.0, held=False)
    assert best_held([held, short], "capacity") == held
    # Without a last look (a fixed probe_time) none is held: the best by the objective.
    fixed = [config("1", "0", 2, 95.0, None), config("4", "0", 2, 97.0, None)]
    assert best_held(fixed, "capacity") == fixed[1]


def test_the_share_a_look_kept_is_the_most_any_look_at_the_scale_kept():
    # 4/0 held 105 of its short answer's 124 (0.85), 1/0 held 95 of 100 (0.95); 4/5 had no
    # look, and 1/5 held at 2 replicas: neither counts at 1 replica.
    at_scale = [
        replace(config("4", "0", 1, 105.0), short_rps=124.0),
        replace(config("1", "0", 1, 95.0), short_rps=100.0),
        config("4", "5", 1, 99.0, held=False),
    ]
    assert short_kept(at_scale) == pytest.approx(0.95)
    assert short_kept(at_scale[2:]) is None
    # A look that kept more than its short answer (within above it) counts as all of it.
    assert short_kept([replace(config("4", "0", 1, 70.0), short_rps=63.0)]) == 1.0


def test_a_short_answer_read_as_the_looks_kept_theirs_is_held_only_where_it_may_beat_the_best(
    tmp_path,
):
    data = json.loads((Path(__file__).resolve().parents[2] / "matrix.json").read_text())
    data["tune"] = {"env": {"MAX_BATCH": ["1", "4"], "MAX_WAIT_MS": ["0", "5"]}}
    (tmp_path / "matrix.json").write_text(json.dumps(data))
    matrix = load_matrix(tmp_path / "matrix.json")
    best = config("4", "0", 2, 105.0)
    # 118 short reads as 100 where looks kept 0.85 of theirs: under 105, not held.
    why = why_unheld(config("1", "0", 2, 118.0, held=False), best, 0.85, matrix)
    assert why is not None and "0.85 of it" in why and "MAX_BATCH=4, MAX_WAIT_MS=0" in why
    # 126 reads as 107: it may beat the best, held; and so is 118 before any look kept less.
    assert why_unheld(config("1", "0", 2, 126.0, held=False), best, 0.85, matrix) is None
    assert why_unheld(config("1", "0", 2, 118.0, held=False), best, None, matrix) is None
    # Nothing held yet: held.
    assert why_unheld(config("1", "0", 2, 50.0, held=False), None, 0.85, matrix) is None
