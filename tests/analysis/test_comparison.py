"""Comparing two sweeps: verdicts that go the way the figures do, points on one side only,
what differs between the sweeps, and the gate's exit code."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.analysis.comparison import BETTER, SAME, WORSE, regressions
from harness.matrix import Slo
from harness.pages.compare import comparison_of
from harness.tune.file import FAILED, OK, Config, TuneFile, tune_path, write_tune
from tests.analysis.reports import write_run

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURE_MATRIX = REPO_ROOT / "tests" / "index" / "fixtures" / "matrix.json"


@pytest.fixture
def sweeps(tmp_path: Path) -> tuple[Path, Path]:
    """Baseline and candidate: 1 user unchanged, 4 users slower, 8 users faster; 16 users in
    the baseline only, 32 in the candidate only."""
    before, after = tmp_path / "before", tmp_path / "after"
    write_run(before, 1, [100, 102, 98], [10, 10.5, 9.8])
    write_run(after, 1, [101, 99, 100], [10.2, 9.9, 10.1])
    write_run(before, 4, [200, 202, 199], [20, 21, 20])
    write_run(after, 4, [150, 152, 149], [30, 31, 29])
    write_run(before, 8, [200, 201, 199], [40, 41, 40])
    write_run(after, 8, [230, 232, 229], [30, 31, 30])
    write_run(before, 16, [200, 200, 200], [80, 80, 80])
    write_run(after, 32, [200, 200, 200], [80, 80, 80])
    return before, after


def verdicts(before: Path, after: Path) -> dict[tuple[str, str], str]:
    return {
        (point.load, metric.name): metric.verdict
        for point in comparison_of(before, after).points
        for metric in point.metrics
    }


def test_verdicts_go_the_way_the_figures_do(sweeps):
    found = verdicts(*sweeps)
    assert found[("1 user, spawn 1/s", "throughput")] == SAME
    assert found[("1 user, spawn 1/s", "p95")] == SAME
    assert found[("4 users, spawn 1/s", "throughput")] == WORSE
    assert found[("4 users, spawn 1/s", "p95")] == WORSE
    assert found[("8 users, spawn 1/s", "throughput")] == BETTER
    assert found[("8 users, spawn 1/s", "p95")] == BETTER


def test_points_on_one_side_are_listed(sweeps):
    comparison = comparison_of(*sweeps)
    assert comparison.only_baseline == ["cpu/1_16_1"]
    assert comparison.only_candidate == ["cpu/1_32_1"]


def test_a_regression_is_significantly_worse_by_more_than_the_threshold(sweeps):
    comparison = comparison_of(*sweeps)
    worse = {(point.load, metric.name) for point, metric in regressions(comparison, 0.05)}
    assert worse == {("4 users, spawn 1/s", "throughput"), ("4 users, spawn 1/s", "p95")}
    assert regressions(comparison, 0.6) == []  # p95 +48%, throughput -25%: within 60%


def test_repetitions_are_compared_when_both_sides_repeated(tmp_path: Path):
    before, after = tmp_path / "before", tmp_path / "after"
    for repeat, rps in enumerate([100, 104, 96], start=1):
        write_run(before, 1, [rps] * 3, [10] * 3, repeat=repeat)
    for repeat, rps in enumerate([120, 118, 122], start=1):
        write_run(after, 1, [rps] * 3, [10] * 3, repeat=repeat)
    [point] = comparison_of(before, after).points
    throughput = point.metrics[0]
    assert (throughput.samples, throughput.verdict) == ("repetitions", BETTER)
    assert throughput.baseline.count == 3 and throughput.change == pytest.approx(0.2)


def test_sweeps_on_different_machines_are_flagged(tmp_path: Path):
    from harness.machine import Machine

    before, after = tmp_path / "before", tmp_path / "after"
    write_run(before, 1, [100] * 3, [10] * 3, machine=Machine("AMD EPYC", 2, 24.0, None))
    write_run(after, 1, [100] * 3, [10] * 3, machine=Machine("Intel Xeon", 16, 128.0, None))
    comparison = comparison_of(before, after)
    assert comparison.across_machines
    assert comparison.differences == [
        "machine: AMD EPYC, 2 cores, GPU None → Intel Xeon, 16 cores, GPU None"
    ]


def compare_cli(before: Path, after: Path, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(Path(sys.executable).parent / "inv"), "compare", str(before), str(after), *options],
        cwd=REPO_ROOT,
        env={**os.environ, "MATRIX": str(FIXTURE_MATRIX)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_gate_exits_98_on_a_regression_and_0_otherwise(sweeps, tmp_path: Path):
    before, after = sweeps
    gated = compare_cli(before, after, "--gate")
    assert gated.returncode == 98, gated.stdout + gated.stderr
    assert "significantly worse by more than 5%: cpu 1r 4 users, spawn 1/s: throughput -25" in (
        gated.stderr
    )
    assert (after / "compare.html").is_file()
    assert compare_cli(before, after).returncode == 0  # reported, not gated
    same = tmp_path / "same"
    write_run(same, 1, [100, 101, 99], [10, 10, 10])
    assert compare_cli(same, same, "--gate").returncode == 0


def write_tune_file(reports: Path, capacities: dict[tuple[str, int], float | None]) -> None:
    """A tune of MAX_BATCH at some replica counts: each configuration's capacity, or None where
    it failed."""
    configs = [
        Config(
            {"MAX_BATCH": batch},
            models,
            OK if capacity else FAILED,
            reason=None if capacity else "the stack did not come up",
            capacity_rps=capacity,
        )
        for (batch, models), capacity in capacities.items()
    ]
    axes = {"MAX_BATCH": sorted({batch for batch, _ in capacities})}
    tune = TuneFile("cpu", Slo(500, 0.01), "capacity", "grid", axes, configs, tolerance=0.05)
    write_tune(tune_path(reports, "cpu"), tune)


def test_two_tunes_compare_configuration_by_configuration(tmp_path: Path):
    before, after = tmp_path / "before", tmp_path / "after"
    write_tune_file(before, {("1", 1): 40.0, ("16", 1): 50.0, ("16", 2): 90.0, ("4", 1): 45.0})
    write_tune_file(after, {("1", 1): 41.0, ("16", 1): 60.0, ("16", 2): 80.0, ("4", 1): None})
    found = {
        (point.load, point.models): point.metrics[0].verdict
        for point in comparison_of(before, after).points
    }
    # Within the search's 5% tolerance is no change; a configuration one side could not
    # measure has nothing to compare.
    assert found == {
        ("tuned MAX_BATCH=1", 1): SAME,
        ("tuned MAX_BATCH=16", 1): BETTER,
        ("tuned MAX_BATCH=16", 2): WORSE,
    }
    gated = compare_cli(before, after, "--gate")
    assert gated.returncode == 98, gated.stdout + gated.stderr
    assert "cpu 2r tuned MAX_BATCH=16: capacity -11.1%" in gated.stderr
    assert (after / "compare.html").is_file()
