"""The page's open-loop part: latency against offered rate per replica count (the hockey stick),
capacity against replicas beside linear scaling, and the capacity search's probes."""

from collections import defaultdict
from dataclasses import dataclass

from harness import charts
from harness.analysis.capacity import found_capacities
from harness.analysis.formatting import describe_good, format_ms, plural
from harness.capacity import CapacityFile
from harness.matrix import Slo
from harness.results import Run

PERCENTILE_LINES = (("p50", "p50_ms"), ("p95", "p95_ms"), ("p99", "p99_ms"))


@dataclass(frozen=True)
class OpenView:
    runs: list[Run]  # every open-loop run of the target on the setup, valid or not
    charts: list[charts.Chart]
    capacity: CapacityFile | None
    shaped: list[Run]  # every run of a shape (its page shows it second by second)


def open_view(title: str, runs: list[Run], slo: Slo, capacity: CapacityFile | None) -> OpenView:
    """`runs`: one target's on one setup, and its capacity search there; `title` names them."""
    open_runs = [run for run in runs if run.kind == "open"]
    made = _hockey_sticks(title, open_runs, slo)
    goodput = _goodput_chart(title, open_runs, slo)
    if goodput is not None:
        made.append(goodput)
    if capacity is not None and len(found_capacities(capacity)) > 1:
        made.append(_capacity_chart(title, capacity))
    shaped = [run for run in runs if run.kind == "shaped"]
    return OpenView(open_runs, made, capacity, shaped)


def _hockey_sticks(title: str, runs: list[Run], slo: Slo) -> list[charts.Chart]:
    """Per replica count, p50, p95 and p99 against the offered rate, valid runs only."""
    by_models: dict[int, list[Run]] = defaultdict(list)
    for run in runs:
        if run.counts:
            by_models[run.models].append(run)
    made = []
    for models, scale_runs in sorted(by_models.items()):
        series = [
            charts.Series(
                label,
                [
                    (run.rate, getattr(run.stats, field))
                    for run in scale_runs
                    if getattr(run.stats, field) is not None
                ],
                index,
            )
            for index, (label, field) in enumerate(PERCENTILE_LINES)
        ]
        made.append(
            charts.line_chart(
                f"{title}, {plural(models, 'replica')}: latency against offered rate",
                "offered requests/s",
                "ms",
                series,
                reference=(slo.p95_ms, f"SLO p95 {format_ms(slo.p95_ms)} ms"),
                hint_unit=" ms",
            )
        )
    return made


def _goodput_chart(title: str, runs: list[Run], slo: Slo) -> charts.Chart | None:
    """Per replica count, the share of requests good (succeeded within the goodput threshold)
    against the offered rate: where the curve leaves 100% is where the SLO starts to give."""
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        if run.counts and run.stats.goodput is not None:
            by_models[run.models].append((run.rate, 100 * run.stats.goodput))
    if not by_models:
        return None
    series = [
        charts.Series(plural(models, "replica"), points, models - 1)
        for models, points in sorted(by_models.items())
    ]
    return charts.line_chart(
        f"{title}: goodput against offered rate",
        "offered requests/s",
        f"% {describe_good(slo)}",
        series,
        reference=(100 * slo.min_goodput, f"{100 * slo.min_goodput:g}%"),
        hint_unit="%",
    )


def _capacity_chart(title: str, capacity: CapacityFile) -> charts.Chart:
    found = found_capacities(capacity)
    series = [charts.Series("capacity within the SLO", list(found.items()), 0)]
    if 1 in found:
        linear = [(models, models * found[1]) for models in found]
        series.append(charts.Series("linear: N × capacity at 1", linear, 6))
    return charts.line_chart(
        f"{title}: capacity against replicas", "replicas", "requests/s", series, hint_unit=" req/s"
    )
