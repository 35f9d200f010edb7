"""The page's tune part: the configurations tried, the best by the objective first, and the
Pareto fronts (capacity against p95 at capacity, capacity against capacity per core)."""

from dataclasses import dataclass
from pathlib import Path

from harness import charts
from harness.analysis.tune import pareto, ranked, settings
from harness.tune.file import Config, TuneFile, read_tune, tune_path


@dataclass(frozen=True)
class TuneView:
    tune: TuneFile
    rows: list[Config]  # the best by the objective first
    charts: list[charts.Chart]


def tune_view(target: str, reports_dir: Path) -> TuneView | None:
    tune = read_tune(tune_path(reports_dir, target))
    if tune is None or not tune.configs:
        return None
    return TuneView(tune, ranked(tune), _fronts(target, tune))


def _fronts(target: str, tune: TuneFile) -> list[charts.Chart]:
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
                f"{target}: capacity against {label.split(',')[0]}",
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
