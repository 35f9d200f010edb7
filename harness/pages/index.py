"""reports/index.html: every run under reports/, its tables, charts and conclusions on one page.

Rebuilt after each run (so a partial sweep is browsable) and by `inv index` from whatever runs
are there, older sweeps included. The page is one self-contained file: styles, the sort script
and the SVG charts are inline, so it opens from the file system with no network.
"""

import json
import re
import sys
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from harness import charts
from harness.analysis import figures, limits
from harness.analysis.conclusions import conclusions
from harness.analysis.formatting import describe_breach, describe_slo
from harness.analysis.repeats import one_per_point, repeated
from harness.capacity import CapacityFile, capacity_path, read_capacity
from harness.matrix import Matrix, Slo
from harness.pages.closed_loop import along_users_charts, gpu_cpu_charts
from harness.pages.open_loop import OpenView, open_view
from harness.pages.render import environment, write_page
from harness.pages.run import write_run_pages
from harness.pages.streams import StreamView, stream_view
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
from harness.stack_setup import StackSetup, setup_names
from harness.tune.file import TuneFile, read_tune, tune_path

T = TypeVar("T")

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
    """A target on one stack setup (harness/stack_setup.py)."""

    name: str  # the target: its files are under reports/{name}/
    anchor: str  # the page's ids for it: the target, and its setup where it has several
    title: str  # the target, and its setup where the page holds several: "cpu on compose"
    runs: list[Run]  # closed loop
    open: OpenView
    tune: TuneView | None
    streams: StreamView | None  # generative runs: TTFT, ITL, output tokens/s
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
    capacities = _read_each(names, lambda target: read_capacity(capacity_path(reports_dir, target)))
    tunes = _read_each(names, lambda target: read_tune(tune_path(reports_dir, target)))
    setups = sorted(
        {run.setup for run in runs}
        | {found.setup for found in [*capacities.values(), *tunes.values()]}
    )
    # Where the page holds several setups, each view and chart names its own.
    named = setup_names(setups) if len(setups) > 1 else {}
    spreads = repeated(runs)
    # The conclusions and charts read one run per point: its repetitions' means.
    per_point = one_per_point(runs)
    targets = [
        view
        for target in names
        for view in _target_views(
            target, per_point, runs, slo, capacities.get(target), tunes.get(target), named
        )
    ]
    return template.render(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        runs=runs,
        failed_runs=[run for run in runs if run.status == "failed"],
        unreadable=unreadable,
        targets=targets,
        gpu_cpu_charts=[
            chart
            for setup in setups
            for chart in gpu_cpu_charts(
                [run for run in per_point if run.setup == setup], named.get(setup, "")
            )
        ],
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


def _target_views(
    target: str,
    runs: list[Run],
    all_runs: list[Run],
    slo: Slo,
    capacity: CapacityFile | None,
    tune: TuneFile | None,
    named: dict[StackSetup, str],
) -> list[TargetView]:
    """One view of the target per setup it was measured on: no table or chart mixes two.
    `runs` has one run per point (repetitions merged); `all_runs` every repetition."""
    every_run = [run for run in all_runs if run.target == target]
    setups = sorted(
        {run.setup for run in every_run}
        | {found.setup for found in (capacity, tune) if found is not None}
    )
    views = []
    # A target whose only file cannot be read yet still gets its (empty) view.
    for setup in setups or [StackSetup()]:
        on = named.get(setup)
        title = f"{target} on {on}" if on else target
        anchor = f"{target}-{_slug(on)}" if len(setups) > 1 else target
        views.append(
            _target_view(
                target,
                anchor,
                title,
                [run for run in runs if run.target == target and run.setup == setup],
                [run for run in every_run if run.setup == setup],
                slo,
                capacity if capacity is not None and capacity.setup == setup else None,
                tune_view(title, tune) if tune is not None and tune.setup == setup else None,
            )
        )
    return views


def _target_view(
    target: str,
    anchor: str,
    title: str,
    runs: list[Run],
    every_run: list[Run],
    slo: Slo,
    capacity: CapacityFile | None,
    tune: TuneView | None,
) -> TargetView:
    """One target on one setup: `runs` one per point, `every_run` every repetition."""
    closed = [run for run in runs if run.kind == "closed"]
    by_models: dict[int, list[Run]] = defaultdict(list)
    for run in every_run:
        by_models[run.models].append(run)
    groups = [
        ReplicaGroup(models, by_models[models], [breakdown_bar(run) for run in by_models[models]])
        for models in sorted(by_models)
    ]
    return TargetView(
        name=target,
        anchor=anchor,
        title=title,
        runs=closed,
        open=open_view(title, runs, slo, capacity),
        tune=tune,
        streams=stream_view(title, runs),
        replica_groups=groups,
        charts=along_users_charts(title, closed, slo),
        legend=legend_entries([bar for group in groups for bar in group.bars]),
        stages_missing=sorted(
            {run.record.stages_missing for run in every_run if run.record.stages_missing}
        ),
        resources=resource_table(every_run),
    )


def _read_each(targets: list[str], read: Callable[[str], T | None]) -> dict[str, T]:
    """Each target's file that exists and reads."""
    found = {target: read(target) for target in targets}
    return {target: file for target, file in found.items() if file is not None}


def _slug(text: str) -> str:
    """For an id: letters and digits, dashes between."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")


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
