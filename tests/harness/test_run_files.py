"""A run's names, its Locust command, and when its results count as complete (resume)."""

import importlib.util
import json
import re
from pathlib import Path

import pytest

from harness.matrix import RunPoint, load_matrix
from harness.run import (
    is_complete,
    locust_command,
    locust_cpu_saturated,
    meta_path,
    ramp_seconds,
    run_stem,
    spawn_rate_label,
)


@pytest.mark.parametrize(
    ("spawn_rate", "label"), [(0.5, "0.5"), (2, "2"), (2.0, "2"), (0.25, "0.25"), (1.5, "1.5")]
)
def test_spawn_rate_is_written_as_in_the_matrix(spawn_rate: float, label: str) -> None:
    assert spawn_rate_label(spawn_rate) == label


def test_stem_is_models_users_spawn() -> None:
    assert run_stem(RunPoint("cpu", 2, 4, 0.5)) == "2_4_0.5"
    assert run_stem(RunPoint("gpu", 1, 10, 2.0)) == "1_10_2"


@pytest.mark.parametrize(
    ("users", "spawn_rate", "ramp"),
    [(1, 1, 0), (2, 0.5, 2), (5, 0.5, 8), (8, 4, 1), (10, 4, 2), (4, 1.5, 2), (3, 10, 0)],
)
def test_ramp_is_when_locust_has_started_every_user(users: int, spawn_rate: float, ramp) -> None:
    assert ramp_seconds(RunPoint("cpu", 1, users, spawn_rate)) == ramp


def test_ramp_comes_on_top_of_the_run_time(tmp_path: Path, repo_root: Path) -> None:
    matrix = load_matrix(repo_root / "matrix.json")
    point = RunPoint("cpu", 2, 5, 0.5)
    command = locust_command(matrix, point, tmp_path / "2_5_0.5")
    options = dict(zip(command, command[1:], strict=False))
    assert options["--run-time"] == f"{8 + matrix.run_time_s}s"
    assert options["--spawn-rate"] == "0.5"
    assert options["--html"] == str(tmp_path / "2_5_0.5.html")
    assert "--reset-stats" in command and "--headless" in command
    assert "--processes" not in command


def write_run(reports: Path, point: RunPoint, status: str, files: list[str]) -> Path:
    folder = reports / point.target
    folder.mkdir(parents=True, exist_ok=True)
    for name in files:
        (folder / name).write_text("x")
    path = meta_path(reports, point)
    path.write_text(json.dumps({"status": status, "files": files}))
    return path


def test_only_an_ok_run_with_all_its_files_is_complete(tmp_path: Path) -> None:
    ok, failed, missing, absent = (RunPoint("cpu", 1, users, 1) for users in (1, 2, 3, 4))
    write_run(tmp_path, ok, "ok", ["1_1_1.html", "1_1_1_stats.csv"])
    write_run(tmp_path, failed, "failed", ["1_2_1.html"])
    write_run(tmp_path, missing, "ok", ["1_3_1.html"])
    (tmp_path / "cpu" / "1_3_1.html").unlink()
    (tmp_path / "cpu" / "1_4_1.html").write_text("a report with no metadata: interrupted")
    assert is_complete(tmp_path, ok)
    assert not is_complete(tmp_path, failed)
    assert not is_complete(tmp_path, missing)
    assert not is_complete(tmp_path, absent)


def test_locust_cpu_warnings_are_recognised() -> None:
    # Locust's messages are read from its source, not imported: importing locust would
    # monkey-patch this test process.
    runners = Path(importlib.util.find_spec("locust").origin).parent / "runners.py"
    warnings = re.findall(r'"(CPU usage[^"]*)"', runners.read_text())
    assert len(warnings) >= 2, warnings
    for warning in warnings:
        assert locust_cpu_saturated(f"[2026] host/WARNING/locust.runners: {warning}"), warning
    assert not locust_cpu_saturated("Ramping to 4 users at a rate of 2.00 per second")
