"""reports/index.html: every run under reports/, its tables, charts and conclusions on one page.

Rebuilt after each run (so a partial sweep is browsable) and by `inv index` from whatever runs
are there, older sweeps included. The page is one self-contained file: styles, the sort script
and the SVG charts are inline, so it opens from the file system with no network.
"""

import json
import os
import tempfile
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from harness import REPO_ROOT, analysis, charts
from harness.results import RunResult, UnreadableRun, gather

TEMPLATES_DIR = REPO_ROOT / "templates"
INDEX_NAME = "index.html"
SPAWN_RULE = (
    "Charts along the users axis take, where a point was run at several spawn rates, the run with"
    " the highest spawn rate: its ramp is shortest, so its window is closest to the steady state."
    " The tables list every run."
)


@dataclass(frozen=True)
class ReplicaGroup:
    models: int
    runs: list[RunResult]


@dataclass(frozen=True)
class TargetView:
    name: str
    runs: list[RunResult]
    replica_groups: list[ReplicaGroup]
    charts: list[charts.Chart]


@dataclass(frozen=True)
class Context:
    machines: list[dict[str, Any]]
    backends: list[str]
    models: list[str]
    runtimes: list[str]
    devices: list[str]
    revisions: list[str]
    first_started: str | None
    last_ended: str | None
    matrix_json: str | None
    matrix_source: str | None


def build_index(reports_dir: Path, matrix: dict | None = None) -> Path:
    """Write reports_dir/index.html from the runs under reports_dir and return its path.

    The SLO and the matrix shown come from `matrix` (matrix.json as loaded) when given, else from
    the newest run's metadata.
    """
    reports_dir.mkdir(parents=True, exist_ok=True)
    gathered = gather(reports_dir)
    html = render_index(reports_dir, gathered.runs, gathered.unreadable, matrix)
    index_path = reports_dir / INDEX_NAME
    _write_atomically(index_path, html)
    return index_path


def render_index(
    reports_dir: Path,
    runs: list[RunResult],
    unreadable: list[UnreadableRun],
    matrix: dict | None,
) -> str:
    slo = analysis.slo_from(matrix, runs)
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        ms=analysis.format_ms,
        rps=analysis.format_rps,
        percent=analysis.format_percent,
        link=lambda path: _link(reports_dir, path),
    )
    template = environment.get_template("index.html.j2")
    return template.render(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        runs=runs,
        failed_runs=[run for run in runs if run.status == "failed"],
        unreadable=unreadable,
        targets=[_target_view(target, runs, slo) for target in sorted({r.target for r in runs})],
        gpu_cpu_charts=_gpu_cpu_charts(runs),
        conclusions=analysis.conclusions(runs, slo),
        slo=slo,
        slo_verdict=lambda run: analysis.slo_verdict(run, slo),
        context=_context(runs, matrix),
        spawn_rule=SPAWN_RULE,
        reports_dir=reports_dir,
    )


def _target_view(target: str, runs: list[RunResult], slo: analysis.Slo | None) -> TargetView:
    target_runs = [run for run in runs if run.target == target]
    by_models: dict[int, list[RunResult]] = defaultdict(list)
    for run in target_runs:
        by_models[run.models].append(run)
    along_users = analysis.representatives(target_runs)
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
                reference=(slo.p95_ms, f"SLO {analysis.format_ms(slo.p95_ms)} ms") if slo else None,
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
    return TargetView(
        name=target,
        runs=target_runs,
        replica_groups=[ReplicaGroup(models, by_models[models]) for models in sorted(by_models)],
        charts=target_charts,
    )


def _series_by_models(
    runs: list[RunResult], value: Callable[[RunResult], float]
) -> list[charts.Series]:
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for run in runs:
        by_models[run.models].append((run.users, value(run)))
    return [
        charts.Series(analysis.plural(models, "replica"), points, _colour_index(models))
        for models, points in sorted(by_models.items())
    ]


def _scaling_series(target: str, runs: list[RunResult]) -> list[charts.Series]:
    # Same rule as the other charts: per users, the point with the highest spawn rate.
    chosen: dict[tuple[int, int], analysis.Scaling] = {}
    for found in analysis.scalings(runs):
        key = (found.models, found.users)
        if found.target == target and (
            key not in chosen or found.spawn_rate > chosen[key].spawn_rate
        ):
            chosen[key] = found
    by_models: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for (models, users), found in sorted(chosen.items()):
        by_models[models].append((users, found.efficiency * 100))
    return [
        charts.Series(f"{models} replicas", points, _colour_index(models))
        for models, points in sorted(by_models.items())
    ]


def _colour_index(models: int) -> int:
    return models - 1


def _gpu_cpu_charts(runs: list[RunResult]) -> list[charts.Chart]:
    pairs = analysis.gpu_cpu_pairs(runs)
    if not pairs:
        return []
    categories = [
        f"{pair.models}r·{pair.users}u·{analysis.format_spawn(pair.spawn_rate)}/s" for pair in pairs
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


def _context(runs: list[RunResult], matrix: dict | None) -> Context:
    newest_first = sorted(runs, key=lambda run: run.started_at or "", reverse=True)
    shown_matrix, matrix_source = matrix, "matrix.json, as given to this build"
    if shown_matrix is None:
        recorded = next((run for run in newest_first if run.matrix is not None), None)
        shown_matrix = recorded.matrix if recorded else None
        matrix_source = (
            f"recorded by the newest run, {recorded.target}/{recorded.stem}" if recorded else None
        )
    started = [run.started_at for run in runs if run.started_at]
    ended = [run.ended_at for run in runs if run.ended_at]
    return Context(
        machines=_distinct(run.machine for run in newest_first),
        backends=_distinct(run.backend for run in newest_first),
        models=_distinct(run.model for run in newest_first),
        runtimes=_distinct(run.runtime for run in newest_first),
        devices=_distinct(run.device for run in newest_first),
        revisions=_distinct(run.revision for run in newest_first),
        first_started=min(started, default=None),
        last_ended=max(ended, default=None),
        matrix_json=json.dumps(shown_matrix, indent=2) if shown_matrix is not None else None,
        matrix_source=matrix_source,
    )


def _distinct(values: Iterable[Any]) -> list[Any]:
    distinct = []
    for value in values:
        if value is not None and value not in distinct:
            distinct.append(value)
    return distinct


def _link(reports_dir: Path, path: Path) -> str:
    """A link relative to index.html, so the folder can be moved or copied whole."""
    return quote(path.relative_to(reports_dir).as_posix())


def _write_atomically(path: Path, text: str) -> None:
    # A person may have the page open while a sweep rewrites it: never show half a file.
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False, encoding="utf-8"
    ) as staging:
        staging.write(text)
    os.chmod(staging.name, 0o644)  # readable like the reports beside it, not 0600
    os.replace(staging.name, path)
