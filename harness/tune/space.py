"""What a tune tries next, in the space its axes span (the matrix's `tune.env`).

`grid`: every combination, in the axes' order. `adaptive`: Triton Model Analyzer's quick search,
a hill climb. It starts at the stack's own settings (each axis at the value `stack.env` gives it,
where listed, else its first), tries the neighbours (one step along one axis) of the best so far,
moves to the first that is better (and tries the same step again first), and stops where no
neighbour is better,
after `max_trials`, or after `patience` trials in a row without a better configuration. Given the
same results it makes the same choices, so an interrupted tune replays what it already knows and
resumes at the next untried configuration.
"""

import itertools

Point = dict[str, str]
# A tried configuration's score, higher is better; None: it has none (failed or ruled out).
Scores = dict[tuple[tuple[str, str], ...], float | None]


def key(point: Point) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(point.items()))


def grid(axes: dict[str, tuple[str, ...]]) -> list[Point]:
    names = list(axes)
    return [dict(zip(names, values, strict=True)) for values in itertools.product(*axes.values())]


def start(axes: dict[str, tuple[str, ...]], stack_env: dict[str, str]) -> Point:
    """The stack's own settings, as far as the axes list them."""
    return {
        name: stack_env[name] if stack_env.get(name) in values else values[0]
        for name, values in axes.items()
    }


def neighbours(
    point: Point, axes: dict[str, tuple[str, ...]], first: tuple | None = None
) -> list[Point]:
    """One step along one axis, each axis in turn, down before up; the step `first` (an axis
    and a direction, the last that paid) before the others."""
    steps = [(name, step) for name in axes for step in (-1, 1)]
    if first in steps:
        steps.remove(first)
        steps.insert(0, first)
    found = []
    for name, step in steps:
        at = axes[name].index(point[name]) + step
        if 0 <= at < len(axes[name]):
            found.append(({**point, name: axes[name][at]}, (name, step)))
    return found


def next_point(
    mode: str,
    axes: dict[str, tuple[str, ...]],
    origin: Point,
    scores: Scores,
    order: list[tuple[tuple[str, str], ...]],
    max_trials: int | None,
    patience: int | None,
) -> Point | None:
    """The next configuration to try, or None when the tune is done. `scores` holds what was
    tried, `order` the order it was tried in."""
    if mode == "grid":
        return next((point for point in grid(axes) if key(point) not in scores), None)
    if max_trials is not None and len(scores) >= max_trials:
        return None
    if patience is not None and _without_progress(scores, order) >= patience:
        return None
    return _climb(axes, origin, scores)


def _climb(axes: dict[str, tuple[str, ...]], origin: Point, scores: Scores) -> Point | None:
    """Replay the climb over what is known; the first configuration it needs and lacks. From the
    best so far it tries the neighbours in turn and moves to the first that is better, trying
    the same step again first."""
    best, paid = origin, None
    while True:
        if key(best) not in scores:
            return best
        for point, step in neighbours(best, axes, paid):
            if key(point) not in scores:
                return point
            if _value(scores[key(point)]) > _value(scores[key(best)]):
                best, paid = point, step
                break
        else:
            return None


def _value(score: float | None) -> float:
    return float("-inf") if score is None else score


def _without_progress(scores: Scores, order: list) -> int:
    """Trials since the best score last improved."""
    best, since = float("-inf"), 0
    for tried in order:
        value = _value(scores.get(tried))
        if value > best:
            best, since = value, 0
        else:
            since += 1
    return since


def distance(one: Point, other: Point, axes: dict[str, tuple[str, ...]]) -> int:
    """Steps along the axes from one configuration to the other."""
    return sum(
        abs(values.index(one[name]) - values.index(other[name])) for name, values in axes.items()
    )


def said(point: Point) -> str:
    return ", ".join(f"{name}={value}" for name, value in point.items())
