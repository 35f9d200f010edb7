"""reports/index.html: every run under reports/, its tables, charts and conclusions on one page.

Rebuilt after each run (so a partial sweep is browsable) and by `inv index` from whatever runs
are there, older sweeps included. The page is one self-contained file: styles, the sort script
and the SVG charts are inline, so it opens from the file system with no network.
"""

import json
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import charts
from harness.analysis import figures, limits
from harness.analysis.formatting import (
    describe_breach,
    describe_slo,
    format_ms,
    format_spawn,
    plural,
)
from harness.analysis.repeats import one_per_point, repeated
from harness.analysis.sentences import conclusions
from harness.matrix import Matrix, Slo
from harness.pages.open_loop import OpenView, open_view
from harness.pages.render import environment, write_page
from harness.pages.run import write_run_pages
from harness.pages.telemetry import (
    BreakdownBar,
    ResourceTable,
    breakdown_bar,
    legend_entries,
    resource_table,
)
from harness.pages.tune import TuneView, tune_view
from harness.record.names import CAPACITY_FILE, TUNE_FILE
from harness.results import Run, UnreadableRun, gather

INDEX_NAME = "index.html"
SPAWN_RULE = (
    "Charts along the users axis take, where a point was run at several spawn rates, the run with"
    " the highest spawn rate: its ramp is shortest, so its window is closest to the steady state."
    " The tables list every run."
)


@dataclass(frozen=True)
class ReplicaGroup:
    models: int
    runs: list[Run]
    bars: list[BreakdownBar]


@dataclass(frozen=True)
class TargetView:
    name: str
    runs: list[Run]  # closed loop
    open: OpenView
    tune: TuneView | None
    replica_groups: list[ReplicaGroup]
    charts: list[charts.Chart]
    legend: list[tuple[str, str]]
    stages_missing: list[str]  # why runs have no stage figures, each reason once
    resources: ResourceTable


@dataclass(frozen=True)
class Context:
    machines: list[Any]
    backends: list[str]
    models: list[str]
    runtimes: list[str]
    devices: list[str]
    revisions: list[str]
    first_started: str | None
    last_ended: str | None
    matrix_json: str
    matrix_source: str


def build_index(reports_dir: Path, matrix: Matrix) -> Path:
    """Write reports_dir/index.html from the runs under reports_dir and return its path."""
    gathered = gather(reports_dir)
    write_run_pages(reports_dir, gathered.runs)
    html = render_index(reports_dir, gathered.runs, gathered.unreadable, matrix)
    return write_page(reports_dir / INDEX_NAME, html)


def refresh_index(reports_dir: Path, matrix: Matrix) -> None:
    """The index follows every run; a broken index never stops the measurements."""
    try:
        build_index(reports_dir, matrix)
    except Exception as error:  # whatever broke the index, the measurements go on
        print(f"index: not rebuilt: {type(error).__name__}: {error}", file=sys.stderr, flush=True)


def render_index(
    reports_dir: Path, runs: list[Run], unreadable: list[UnreadableRun], matrix: Matrix
) -> str:
    slo = matrix.slo
    template = environment(reports_dir).get_template("index.html.j2")
    # A target with a capacity search or a tune and no run of a sweep is shown too.
    searched = {
        path.parent.name
        for name in (CAPACITY_FILE, TUNE_FILE)
        for path in reports_dir.glob(f"*/{name}")
    }
    names = sorted({run.target for run in runs} | searched)
    spreads = repeated(runs)
    # The conclusions and charts read one run per point: its repetitions' means.
    per_point = one_per_point(runs)
    targets = [_target_view(target, per_point, runs, slo, reports_dir) for target in names]
    return template.render(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        runs=runs,
        failed_runs=[run for run in runs if run.status == "failed"],
        unreadable=unreadable,
        targets=targets,
        gpu_cpu_charts=_gpu_cpu_charts(per_point),
        spreads=spreads,
        show_spread=any(len(group.runs) > 1 for group in spreads.values()),
        conclusions=conclusions(
            per_point,
            slo,
            [view.open.capacity for view in targets if view.open.capacity is not None],
            [view.tune.tune for view in targets if view.tune is not None],
            matrix.cost.currency if matrix.cost else "$",
        ),
        slo_text=describe_slo(slo),
        slo_verdict=lambda run: slo_verdict(run, slo),
        ceiling_share=limits.ceiling_share,
        stability=stability,
        context=_context(runs, matrix),
        spawn_rule=SPAWN_RULE,
        reports_dir=reports_dir,
    )


def stability(run: Run) -> tuple[str, str | None]:
    """For the summary table: "yes", "no" or "–" (no windows recorded), and why not."""
    stable = run.record.stable
    if stable is None:
        return "–", None
    return ("yes", None) if stable else ("no", run.record.unstable_reason)


def slo_verdict(run: Run, slo: Slo) -> tuple[str, str]:
    """For the summary table: "within", "outside" or "n/a", and the text to show."""
    if not run.measured:
        return "n/a", "–"
    breach = figures.slo_breach(slo, run.stats)
    return ("within", "within") if breach is None else ("outside", describe_breach(breach))


def _target_view(
    target: str, runs: list[Run], all_runs: list[Run], slo: Slo, reports_dir: Path
) -> TargetView:
    """`runs` has one run per point (repetitions merged); `all_runs` every repetition."""
    every_run = [run for run in all_runs if run.target == target]
    target_runs = [run for run in runs if run.target == target and run.kind == "closed"]
    along_users = figures.representatives(target_runs)
    target_charts = []
    if along_users:
        target_charts.append(
            charts.line_chart(
                f"{target}: throughput against users",
                "users",
                "requests/s",
                _series_by_models(along_users, lambda run: run.stats.rps),
                hint_unit=" req/s",
            )
        )
        p95_runs = [run for run in along_users if run.stats.p95_ms is not None]
        target_charts.append(
            charts.line_chart(
                f"{target}: p95 latency against users",
                "users",
                "p95 ms",
                _series_by_models(p95_runs, lambda run: run.stats.p95_ms),
                reference=(slo.p95_ms, f"SLO {format_ms(slo.p95_ms)} ms"),
                hint_unit=" ms",
            )
        )
    scaling_series = _scaling_series(target, runs)
    if scaling_series:
        target_charts.append(
            charts.line_chart(
                f"{target}: scaling, throughput at N replicas ÷ (N × throughput at 1)",
                "users",
                "% of linear",
                scaling_series,
                reference=(100.0, "linear"),
                hint_unit="%",
            )
        )
    by_models: dict[int, list[Run]] = defaultdict(list)
    for run in every_run:
        by_models[run.models].append(run)
    groups = [
        ReplicaGroup(models, by_models[models], [breakdown_bar(run) for run in by_models[models]])
        for models in sorted(by_models)
    ]
    return TargetView(
        name=target,
        runs=target_runs,
        open=open_view(target, runs, slo, reports_dir),
        tune=tune_view(target, reports_dir),
        replica_groups=groups,
        charts=target_charts,
        legend=legend_entries([bar for group in groups for bar in group.bars]),
        stages_missing=sorted(
            {run.record.stages_missing for run in every_run if run.record.stages_missing}
        ),
        resources=resource_table(every_run),
    )


def _series_by_models(runs: list[Run], value: Callable[[Run], float]) -> list[charts.Series]:
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        by_models[run.models].append((run.users, value(run)))
    return [
        charts.Series(plural(models, "replica"), points, _colour_index(models))
        for models, points in sorted(by_models.items())
    ]


def _scaling_series(target: str, runs: list[Run]) -> list[charts.Series]:
    chosen = figures.one_per_users(
        (found for found in figures.scalings(runs) if found.target == target),
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


def _gpu_cpu_charts(runs: list[Run]) -> list[charts.Chart]:
    pairs = figures.gpu_cpu_pairs(runs)
    if not pairs:
        return []
    categories = [
        f"{pair.models}r·{pair.users}u·{format_spawn(pair.spawn_rate)}/s" for pair in pairs
    ]
    throughput = charts.bar_chart(
        "CPU against GPU: throughput at the same point",
        "replicas · users · spawn rate",
        "requests/s",
        categories,
        [("cpu", [pair.cpu.rps for pair in pairs]), ("gpu", [pair.gpu.rps for pair in pairs])],
        hint_unit=" req/s",
    )
    with_p90 = [pair for pair in pairs if pair.p90_ratio is not None]
    latency = charts.bar_chart(
        "CPU against GPU: p90 latency at the same point",
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


def _context(runs: list[Run], matrix: Matrix) -> Context:
    newest_first = sorted(runs, key=lambda run: run.record.started_at or "", reverse=True)
    records = [run.record for run in newest_first]
    started = [record.started_at for record in records if record.started_at]
    ended = [record.ended_at for record in records if record.ended_at]
    return Context(
        machines=_distinct(record.machine for record in records),
        backends=_distinct(record.backend for record in records),
        models=_distinct(record.model for record in records),
        runtimes=_distinct(record.runtime for record in records),
        devices=_distinct(record.device for record in records),
        revisions=_distinct(record.revision for record in records),
        first_started=min(started, default=None),
        last_ended=max(ended, default=None),
        matrix_json=json.dumps(matrix.recorded, indent=2),
        matrix_source=f"{matrix.source.name}, as given to this build",
    )


def _distinct(values: Iterable[Any]) -> list[Any]:
    distinct = []
    for value in values:
        if value is not None and value not in distinct:
            distinct.append(value)
    return distinct
