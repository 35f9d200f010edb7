"""compare.html: two sweeps side by side, written into the candidate's reports folder (same look
as the index, self-contained), and the same comparison as a terminal table."""

import os
from datetime import UTC, datetime
from pathlib import Path

from harness.analysis.comparison import Comparison, Metric, compare, regressions
from harness.analysis.formatting import format_ms, format_rps
from harness.capacity import CapacityFile, capacity_path, read_capacity
from harness.pages.index import INDEX_NAME
from harness.pages.render import environment, write_page
from harness.results import gather
from harness.tune.file import TuneFile, read_tune, tune_path

COMPARE_NAME = "compare.html"


def comparison_of(baseline_dir: Path, candidate_dir: Path) -> Comparison:
    return compare(
        gather(baseline_dir).runs,
        gather(candidate_dir).runs,
        _capacities(baseline_dir),
        _capacities(candidate_dir),
        _tunes(baseline_dir),
        _tunes(candidate_dir),
    )


def write_compare_page(
    baseline_dir: Path, candidate_dir: Path, comparison: Comparison, threshold: float
) -> Path:
    template = environment(candidate_dir).get_template("compare.html.j2")
    html = template.render(
        generated_at=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC"),
        comparison=comparison,
        regressions=regressions(comparison, threshold),
        threshold=threshold,
        baseline=baseline_dir,
        candidate=candidate_dir,
        baseline_index=os.path.relpath(baseline_dir / INDEX_NAME, candidate_dir),
        figure=figure,
    )
    return write_page(candidate_dir / COMPARE_NAME, html)


def terminal_table(comparison: Comparison) -> str:
    """The comparison as aligned text, one line per point and figure."""
    header = ("point", "figure", "baseline", "candidate", "change", "p", "verdict")
    rows = [
        (
            point.named,
            metric.name,
            figure(metric, "baseline"),
            figure(metric, "candidate"),
            f"{metric.change:+.1%}",
            "–" if metric.p_value is None else f"{metric.p_value:.3f}",
            metric.verdict,
        )
        for point in comparison.points
        for metric in point.metrics
    ]
    widths = [
        max(len(str(row[column])) for row in [header, *rows]) for column in range(len(header))
    ]
    lines = [
        "  ".join(str(cell).ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in [header, *rows]
    ]
    return "\n".join(lines)


def figure(metric: Metric, side: str) -> str:
    """A side's mean, with its 95% interval when it has one."""
    spread = getattr(metric, side)
    shown = format_ms if metric.unit == "ms" else format_rps
    if spread.half_width is None:
        return shown(spread.mean)
    return f"{shown(spread.mean)} ± {shown(spread.half_width)}"


def _capacities(reports: Path) -> list[CapacityFile]:
    found = [read_capacity(capacity_path(reports, target)) for target in _targets(reports)]
    return [capacity for capacity in found if capacity is not None]


def _tunes(reports: Path) -> list[TuneFile]:
    found = [read_tune(tune_path(reports, target)) for target in _targets(reports)]
    return [tune for tune in found if tune is not None]


def _targets(reports: Path) -> list[str]:
    return (
        sorted(path.name for path in reports.iterdir() if path.is_dir()) if reports.is_dir() else []
    )
