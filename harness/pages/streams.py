"""Generative runs (a `stream` block in the record) on the pages. The index's part, per target and
stack setup, read from the records alone so that it stays quick: their TTFT, ITL and output
tokens/s in a table, TTFT p95 against the load per replica count (users in a closed loop, the
offered rate in an open one), output tokens/s against replicas, one line per load. A run's page:
its TTFT and output tokens second by second, from its files."""

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness import charts
from harness.analysis.formatting import plural
from harness.analysis.streams import load_label, load_of, streamed
from harness.generation_files import stream_seconds
from harness.latency import IntervalLog
from harness.results import Run

AXES = {"closed": "users", "open": "offered requests/s"}


@dataclass(frozen=True)
class StreamView:
    runs: list[Run]  # every generative run that counts, by replicas then load
    charts: list[charts.Chart]


def stream_view(title: str, runs: list[Run]) -> StreamView | None:
    """`runs`: one target's on one setup, one per point; None where none streamed."""
    found = sorted(
        (run for run in streamed(runs) if run.kind in AXES),
        key=lambda run: (run.kind, run.models, load_of(run)),
    )
    if not found:
        return None
    made = [
        _ttft_chart(title, kind, timed)
        for kind in AXES
        if (timed := [run for run in found if run.kind == kind and run.record.stream.ttft_ms])
    ]
    if len({run.models for run in found}) > 1:
        made.append(_tokens_chart(title, found))
    return StreamView(found, made)


def _ttft_chart(title: str, kind: str, runs: list[Run]) -> charts.Chart:
    """Per replica count, TTFT p95 against the load (`runs` timed it): where it climbs,
    requests wait."""
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        by_models[run.models].append((load_of(run), run.record.stream.ttft_ms.p95))
    series = [
        charts.Series(plural(models, "replica"), points, models - 1)
        for models, points in sorted(by_models.items())
    ]
    return charts.line_chart(
        f"{title}: TTFT p95 against {AXES[kind]}", AXES[kind], "ms", series, hint_unit=" ms"
    )


def _tokens_chart(title: str, runs: list[Run]) -> charts.Chart:
    """Output tokens/s against replicas, one line per load."""
    by_load: dict[tuple[str, float], list[tuple[float, float]]] = defaultdict(list)
    labels = {}
    for run in runs:
        key = (run.kind, load_of(run))
        by_load[key].append((run.models, run.record.stream.output_tokens_per_s))
        labels[key] = load_label(run)
    series = [
        charts.Series(labels[key], points, index)
        for index, (key, points) in enumerate(sorted(by_load.items()))
    ]
    return charts.line_chart(
        f"{title}: output tokens/s against replicas",
        "replicas",
        "output tokens/s",
        series,
        hint_unit=" tokens/s",
    )


def stream_second_charts(prefix: Path, log: IntervalLog) -> list[charts.Chart]:
    """A run's TTFT p50, p95 and p99, its output tokens and its streams in flight, per second
    of its window."""
    every = stream_seconds(prefix, log)
    # As every per-second chart of the run page (harness/pages/run.py): the window's partial
    # first and last seconds are left out, and the titles say so.
    seconds = [one for one in every if one.whole]
    left_out = (
        " (partial seconds at the window's ends left out)" if len(seconds) < len(every) else ""
    )
    ttft = {
        label: [(s.start_s, getattr(s, field)) for s in seconds if getattr(s, field) is not None]
        for label, field in (("p50", "ttft_p50_ms"), ("p95", "ttft_p95_ms"), ("p99", "ttft_p99_ms"))
    }
    tokens = [(s.start_s, s.output_tokens_per_s) for s in seconds]
    in_flight = [
        (s.start_s, s.streams_in_flight) for s in seconds if s.streams_in_flight is not None
    ]
    made = []
    if any(ttft.values()):
        series = [
            charts.Series(label, points, index)
            for index, (label, points) in enumerate(ttft.items())
            if points
        ]
        made.append(
            charts.line_chart(
                f"Time to first token per second{left_out}",
                "seconds",
                "ms",
                series,
                hint_unit=" ms",
            )
        )
    if tokens:
        made.append(
            charts.line_chart(
                f"Output tokens per second{left_out}",
                "seconds",
                "tokens/s",
                [charts.Series("output tokens", tokens, 0)],
                hint_unit=" tokens/s",
            )
        )
    if in_flight:
        made.append(
            charts.line_chart(
                f"Streams in flight at each second's end{left_out}",
                "seconds",
                "streams",
                [charts.Series("in flight", in_flight, 0)],
                hint_unit=" streams",
            )
        )
    return made
