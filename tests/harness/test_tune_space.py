"""What a tune tries: every combination in grid mode; in adaptive mode, a hill climb that reaches
the best of a surface with one optimum in at most half the grid's trials, from the stack's own
settings, and replays what it knows after an interruption."""

import pytest

from harness.tune.space import grid, key, next_point, start

# Batching's trade-off in the small: a bigger batch serves more per pass but waits for it. A
# surface of capacities with one optimum, from queueing arithmetic (a replica's service rate
# per batch size, less what the wait costs within the SLO).
AXES = {"MAX_BATCH": ("1", "2", "4", "8", "16"), "MAX_WAIT_MS": ("0", "1", "2", "5")}


def capacity(point: dict[str, str]) -> float:
    batch, wait_ms = int(point["MAX_BATCH"]), float(point["MAX_WAIT_MS"])
    per_image_ms = 6.0 + 10.0 / batch  # a fixed cost per pass, shared by the batch
    served = 1000 / per_image_ms * min(1.0, (1 + wait_ms) / 3)  # waiting fills the batch
    return served - 4.0 * wait_ms * (batch / 4)  # ... and costs latency the SLO must absorb


def tune(mode: str, origin: dict[str, str], max_trials: int | None = None) -> list[tuple]:
    scores, order = {}, []
    while (point := next_point(mode, AXES, origin, scores, order, max_trials, None)) is not None:
        scores[key(point)] = capacity(point)
        order.append(key(point))
    return order


def test_grid_tries_every_combination_once():
    tried = tune("grid", {})
    assert len(tried) == len(set(tried)) == 5 * 4


@pytest.mark.parametrize(
    "defaults",
    [{"MAX_BATCH": "16"}, {"MAX_BATCH": "4", "MAX_WAIT_MS": "1"}],
)
def test_adaptive_reaches_the_grids_best_in_at_most_half_its_trials(defaults):
    # From the stack's own settings (services/settings.py: MAX_BATCH 16, MAX_WAIT_MS unset).
    best = max(grid(AXES), key=capacity)
    tried = tune("adaptive", start(AXES, defaults))
    assert max(tried, key=lambda point: capacity(dict(point))) == key(best)
    assert len(tried) <= len(grid(AXES)) // 2, len(tried)


@pytest.mark.parametrize("origin", grid(AXES))
def test_adaptive_reaches_the_best_from_anywhere(origin):
    best = max(grid(AXES), key=capacity)
    tried = tune("adaptive", origin)
    assert max(tried, key=lambda point: capacity(dict(point))) == key(best)


def test_the_climb_starts_at_the_stacks_own_settings():
    assert start(AXES, {"MAX_BATCH": "8", "MAX_WAIT_MS": "7"}) == {
        "MAX_BATCH": "8",
        "MAX_WAIT_MS": "0",  # 7 is not an axis value: the axis's first
    }
    assert tune("adaptive", start(AXES, {"MAX_BATCH": "8"}))[0] == key(
        {"MAX_BATCH": "8", "MAX_WAIT_MS": "0"}
    )


def test_an_interrupted_climb_resumes_at_its_next_configuration():
    origin = start(AXES, {})
    whole = tune("adaptive", origin)
    known = {point: capacity(dict(point)) for point in whole[:3]}
    resumed = next_point("adaptive", AXES, origin, known, whole[:3], None, None)
    assert key(resumed) == whole[3]


def test_max_trials_ends_the_climb():
    assert len(tune("adaptive", start(AXES, {}), max_trials=3)) == 3
