"""What a tune carries from one configuration to the next: the nearest one measured seeds a
search (scaled as a configuration measured at both scales scaled), and the best is a held one."""

import pytest

from harness.tune.file import OK, Config
from harness.tuning import best_held, nearest_estimate

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
