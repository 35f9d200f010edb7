"""The page's closed-loop charts: throughput and p95 against users per replica count, scaling
against linear, and CPU against GPU at the same points. Each chart reads the runs of one
setup (harness/stack_setup.py); its title names it where the page holds several."""

from collections import defaultdict
from collections.abc import Callable

from harness import charts
from harness.analysis import figures
from harness.analysis.formatting import format_ms, format_spawn, plural
from harness.matrix import Slo
from harness.results import Run


def along_users_charts(title: str, runs: list[Run], slo: Slo) -> list[charts.Chart]:
    """`runs`: one target's closed-loop runs on one setup, one per point."""
    along_users = figures.representatives(runs)
    made = []
    if along_users:
        made.append(
            charts.line_chart(
                f"{title}: throughput against users",
                "users",
                "requests/s",
                _series_by_models(along_users, lambda run: run.stats.rps),
                hint_unit=" req/s",
            )
        )
        p95_runs = [run for run in along_users if run.stats.p95_ms is not None]
        made.append(
            charts.line_chart(
                f"{title}: p95 latency against users",
                "users",
                "p95 ms",
                _series_by_models(p95_runs, lambda run: run.stats.p95_ms),
                reference=(slo.p95_ms, f"SLO {format_ms(slo.p95_ms)} ms"),
                hint_unit=" ms",
            )
        )
    scaling_series = _scaling_series(runs)
    if scaling_series:
        made.append(
            charts.line_chart(
                f"{title}: scaling, throughput at N replicas ÷ (N × throughput at 1)",
                "users",
                "% of linear",
                scaling_series,
                reference=(100.0, "linear"),
                hint_unit="%",
            )
        )
    return made


def gpu_cpu_charts(runs: list[Run], on: str = "") -> list[charts.Chart]:
    """`runs`: one setup's, both targets; `on` names the setup where the page holds several."""
    pairs = figures.gpu_cpu_pairs(runs)
    if not pairs:
        return []
    heading = f"On {on}: CPU against GPU" if on else "CPU against GPU"
    categories = [
        f"{pair.models}r·{pair.users}u·{format_spawn(pair.spawn_rate)}/s" for pair in pairs
    ]
    throughput = charts.bar_chart(
        f"{heading}: throughput at the same point",
        "replicas · users · spawn rate",
        "requests/s",
        categories,
        [("cpu", [pair.cpu.rps for pair in pairs]), ("gpu", [pair.gpu.rps for pair in pairs])],
        hint_unit=" req/s",
    )
    with_p90 = [pair for pair in pairs if pair.p90_ratio is not None]
    latency = charts.bar_chart(
        f"{heading}: p90 latency at the same point",
        "replicas · users · spawn rate",
        "p90 ms",
        [categories[pairs.index(pair)] for pair in with_p90],
        [
            ("cpu", [pair.cpu.p90_ms for pair in with_p90]),
            ("gpu", [pair.gpu.p90_ms for pair in with_p90]),
        ],
        hint_unit=" ms",
    )
    return [throughput, latency] if with_p90 else [throughput]


def _series_by_models(runs: list[Run], value: Callable[[Run], float]) -> list[charts.Series]:
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        by_models[run.models].append((run.users, value(run)))
    return [
        charts.Series(plural(models, "replica"), points, _colour_index(models))
        for models, points in sorted(by_models.items())
    ]


def _scaling_series(runs: list[Run]) -> list[charts.Series]:
    chosen = figures.one_per_users(
        figures.scalings(runs),
        group=lambda found: (found.models, found.users),
        spawn_rate=lambda found: found.spawn_rate,
    )
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for found in chosen:
        by_models[found.models].append((found.users, found.efficiency * 100))
    return [
        charts.Series(f"{models} replicas", points, _colour_index(models))
        for models, points in sorted(by_models.items())
    ]


def _colour_index(models: int) -> int:
    return models - 1
