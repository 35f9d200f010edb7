"""The page's tune part: the configurations tried, the best by the objective first, and the
Pareto fronts (capacity against p95 at capacity, capacity against capacity per core) of those
held."""

from dataclasses import dataclass

from harness import charts
from harness.analysis.tune import pareto, ranked, settings
from harness.tune.file import Config, TuneFile


@dataclass(frozen=True)
class TuneView:
    tune: TuneFile
    rows: list[Config]  # the best by the objective first
    charts: list[charts.Chart]


def tune_view(title: str, tune: TuneFile) -> TuneView | None:
    """A target's tune, under `title` (the target, and its setup where the page holds several)."""
    if not tune.configs:
        return None
    return TuneView(tune, ranked(tune), _fronts(title, tune))


def _fronts(title: str, tune: TuneFile) -> list[charts.Chart]:
    made = []
    for second, label, lower_better in (
        ("p95_ms", "p95 at capacity, ms", True),
        ("capacity_per_core", "capacity per core, req/s", False),
    ):
        measured = [c for c in tune.configs if c.capacity_rps and getattr(c, second)]
        if not measured:
            continue
        front = pareto(measured, second, lower_better)
        series = [
            _series("every configuration", measured, second, 1, joined=False),
            _series("Pareto front", front, second, 0, joined=True),
        ]
        made.append(
            charts.line_chart(
                f"{title}: capacity against {label.split(',')[0]}",
                label,
                "capacity, req/s",
                series,
                hint_unit=" req/s",
            )
        )
    return made


def _series(label: str, configs: list[Config], second: str, colour: int, joined: bool):
    return charts.Series(
        label,
        [(getattr(config, second), config.capacity_rps) for config in configs],
        colour,
        joined=joined,
        names=tuple(settings(config) for config in configs),
    )
