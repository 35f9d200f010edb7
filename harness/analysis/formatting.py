"""How numbers read on the page and in sentences: one formatter per kind of figure."""

from pathlib import Path

from harness.analysis.figures import Breach
from harness.matrix import Load, OpenLoad, ShapedLoad, Slo
from harness.record.names import number_label


def format_ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def format_rps(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def format_percent(ratio: float) -> str:
    percent = ratio * 100
    return f"{percent:.0f}%" if percent == int(percent) else f"{percent:.2f}%"


def format_percent_whole(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def format_spawn(spawn_rate: float) -> str:
    """As in the run's file name: as written in the matrix."""
    return number_label(spawn_rate)


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def describe_breach(breach: Breach) -> str:
    if breach.measure == "p95":
        shown = "unknown" if breach.value is None else f"{format_ms(breach.value)} ms"
        return f"p95 {shown} > {format_ms(breach.limit)} ms"
    return f"failures {format_percent(breach.value or 0.0)} > {format_percent(breach.limit)}"


def describe_slo(slo: Slo) -> str:
    return (
        f"p95 ≤ {format_ms(slo.p95_ms)} ms and failures ≤ {format_percent(slo.max_failure_ratio)}"
    )


def describe_good(slo: Slo) -> str:
    """What a good request met (locust/goodput.py): "within 500 ms", "TTFT ≤ 200 ms, ITL ≤ 40
    ms"."""
    limits = [
        (words, limit)
        for words, limit in (
            ("within", slo.good_within_ms),
            ("TTFT ≤", slo.ttft_ms),
            ("ITL ≤", slo.itl_ms),
        )
        if limit is not None
    ]
    return ", ".join(f"{words} {format_ms(limit)} ms" for words, limit in limits)


def describe_load(load: Load) -> str:
    """A run's load as a person says it: "8 users, spawn 4/s", "40 req/s (poisson)", "shape
    spike: 50 → 200 → 50 req/s over 70 s"."""
    if isinstance(load, OpenLoad):
        return f"{number_label(load.rate)} req/s ({load.arrival})"
    if isinstance(load, ShapedLoad):
        if load.trace is not None:
            speed = "" if load.speed == 1 else f" at {number_label(load.speed)}× speed"
            return f"shape {load.shape}: the trace {Path(load.trace).name}{speed}"
        unit = "users" if load.users else "req/s"
        values = " → ".join(number_label(value) for value, _, _ in load.phases)
        return f"shape {load.shape}: {values} {unit} over {load.seconds:.0f} s"
    return f"{plural(load.users, 'user')}, spawn {number_label(load.spawn_rate)}/s"
