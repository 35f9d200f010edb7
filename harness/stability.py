"""Steady state: a run's measured window split into equal windows, and whether they agree.

A run is stable when its throughput and its mean latency each vary by at most TOLERANCE (max ÷
min − 1) across the windows, as perf_analyzer asks of its last three measurement windows; its p95
too, where every window holds enough requests for a p95 to be more than noise (TAIL_REQUESTS
beyond it: a p95 of a few hundred requests rests on a dozen of them, and moves by 10% from one
window to the next with nothing changing). With
`extend_until_stable`, a closed-loop run keeps measuring window by window until its last
`windows` windows are stable, or its `max_run_time` is reached; its figures are then those of
the last windows.
"""

from dataclasses import dataclass

from harness.latency import IntervalLog, Latency

TOLERANCE = 0.10
TAIL_REQUESTS = 100  # requests beyond the p95 in each window, for its p95 to be judged (2,000)


@dataclass(frozen=True)
class Window:
    start_s: float  # from the start of the measured window
    seconds: float
    requests: int
    rps: float
    mean_ms: float | None
    p95_ms: float | None


def split(
    log: IntervalLog, count: int, end_s: float | None = None, length_s: float | None = None
) -> list[Window]:
    """`count` equal windows: the whole measured window, or the last `count` windows of
    `length_s` ending at `end_s` (the extension's view)."""
    end = log.window_s if end_s is None else end_s
    length = end / count if length_s is None else length_s
    # Rounded (the log's starts have 3 decimals), so that float error never moves a boundary
    # past the second it falls on, nor the first before 0.
    starts = [max(0.0, round(end - length * (count - index), 6)) for index in range(count)]
    return [_window(start, log.span(start, start + length)) for start in starts]


def unstable_reason(windows: list[Window]) -> str | None:
    """Why the windows disagree, or None when the run is stable."""
    judged = [("rps", "req/s"), ("mean_ms", "ms")]
    if all(0.05 * window.requests >= TAIL_REQUESTS for window in windows):
        judged.append(("p95_ms", "ms"))
    for figure, unit in judged:
        values = [getattr(window, figure) for window in windows]
        if any(value is None or value <= 0 for value in values):
            return f"a window has no {figure.removesuffix('_ms').replace('rps', 'throughput')}"
        spread = max(values) / min(values) - 1
        if spread > TOLERANCE:
            shown = ", ".join(f"{value:.4g}" for value in values)
            said = {"rps": "throughput", "mean_ms": "mean latency", "p95_ms": "p95"}[figure]
            return f"{said} varies {spread:.0%} across windows ({shown} {unit})"
    return None


def _window(start_s: float, latency: Latency) -> Window:
    return Window(
        start_s, latency.seconds, latency.requests, latency.rps, latency.mean_ms, latency.p95_ms
    )
