"""A run's names, its Locust command, and when its results count as complete (resume)."""

import importlib.util
import re
from pathlib import Path

import pytest

from harness.matrix import ClosedLoad, OpenLoad, RunPoint, load_matrix
from harness.record import RunRecord, is_complete, write_record
from harness.record.names import RunName, number_label
from harness.run.closed_loop import ramp_seconds
from harness.run.locust import locust_arguments, locust_cpu_saturated
from harness.stack_setup import StackSetup


@pytest.mark.parametrize(
    ("spawn_rate", "label"), [(0.5, "0.5"), (2, "2"), (2.0, "2"), (0.25, "0.25"), (1.5, "1.5")]
)
def test_spawn_rate_is_written_as_in_the_matrix(spawn_rate: float, label: str) -> None:
    assert number_label(spawn_rate) == label


def test_stem_is_models_users_spawn() -> None:
    assert RunName("cpu", 2, ClosedLoad(4, 0.5)).stem == "2_4_0.5"
    assert RunName("gpu", 1, ClosedLoad(10, 2.0)).stem == "1_10_2"


def test_an_open_loop_stem_is_models_and_rate_as_written() -> None:
    assert RunName("cpu", 2, OpenLoad(40)).stem == "2_rate40"
    assert RunName("cpu", 1, OpenLoad(12.5, "constant")).stem == "1_rate12.5"


def test_a_repetition_after_the_first_adds_its_number() -> None:
    assert RunName("cpu", 2, ClosedLoad(4, 0.5), repeat=1).stem == "2_4_0.5"
    assert RunName("cpu", 2, ClosedLoad(4, 0.5), repeat=3).stem == "2_4_0.5_r3"
    assert RunName("cpu", 2, OpenLoad(40), repeat=2).stem == "2_rate40_r2"


@pytest.mark.parametrize(
    "name",
    [
        RunName("cpu", 2, ClosedLoad(4, 0.5)),
        RunName("gpu", 3, ClosedLoad(16, 2), repeat=4),
        RunName("cpu", 2, OpenLoad(12.5)),
        RunName("cpu", 1, OpenLoad(80), repeat=2),
    ],
)
def test_a_name_reads_back_from_its_file(name: RunName) -> None:
    assert RunName.parse(name.record_path(Path("/reports"))) == name


@pytest.mark.parametrize(
    ("users", "spawn_rate", "ramp"),
    [(1, 1, 0), (2, 0.5, 2), (5, 0.5, 8), (8, 4, 1), (10, 4, 2), (4, 1.5, 2), (3, 10, 0)],
)
def test_ramp_is_when_locust_has_started_every_user(users: int, spawn_rate: float, ramp) -> None:
    assert ramp_seconds(ClosedLoad(users, spawn_rate)) == ramp


def test_ramp_comes_on_top_of_the_run_time(tmp_path: Path, repo_root: Path) -> None:
    matrix = load_matrix(repo_root / "matrix.json")
    point = RunPoint("cpu", 2, ClosedLoad(5, 0.5), "30s")
    command = locust_arguments(matrix, point, tmp_path / "2_5_0.5", workers=1, placement=[])
    options = dict(zip(command, command[1:], strict=False))
    assert options["--run-time"] == "38s"
    assert options["--spawn-rate"] == "0.5"
    assert options["--html"] == str(tmp_path / "2_5_0.5.html")
    assert "--reset-stats" in command and "--headless" in command
    assert "--processes" not in command


LOCAL = StackSetup("local", {"MODEL_NAME": "efficientnet-lite0"})


def write_run(
    reports: Path, name: RunName, status: str, files: list[str], backend: str = "local"
) -> None:
    (reports / name.target).mkdir(parents=True, exist_ok=True)
    for file in files:
        (reports / name.target / file).write_text("x")
    matrix = {"stack": {"env": {"MODEL_NAME": "efficientnet-lite0"}}}
    record = RunRecord(name, status, backend=backend, matrix=matrix, files=tuple(files))
    write_record(record, reports, reports / name.target)


def test_only_an_ok_run_of_this_stack_setup_with_all_its_files_is_complete(
    tmp_path: Path,
) -> None:
    ok, failed, missing, absent, elsewhere = (
        RunName("cpu", 1, ClosedLoad(users, 1)) for users in (1, 2, 3, 4, 5)
    )
    write_run(tmp_path, ok, "ok", ["1_1_1.html", "1_1_1_stats.csv"])
    write_run(tmp_path, failed, "failed", ["1_2_1.html"])
    write_run(tmp_path, missing, "ok", ["1_3_1.html"])
    (tmp_path / "cpu" / "1_3_1.html").unlink()
    (tmp_path / "cpu" / "1_4_1.html").write_text("a report with no record: interrupted")
    write_run(tmp_path, elsewhere, "ok", ["1_5_1.html"], backend="compose")
    assert is_complete(tmp_path, ok, LOCAL)
    assert not is_complete(tmp_path, failed, LOCAL)
    assert not is_complete(tmp_path, missing, LOCAL)
    assert not is_complete(tmp_path, absent, LOCAL)
    assert not is_complete(tmp_path, elsewhere, LOCAL), "a compose run does not stand for local"
    assert is_complete(tmp_path, elsewhere, StackSetup("compose", LOCAL.stack_env))
    other_settings = StackSetup("local", {"MODEL_NAME": "efficientnet-lite0", "MAX_BATCH": "8"})
    assert not is_complete(tmp_path, ok, other_settings)


def test_locust_cpu_warnings_are_recognised() -> None:
    # Locust's messages are read from its source, not imported: importing locust would
    # monkey-patch this test process.
    runners = Path(importlib.util.find_spec("locust").origin).parent / "runners.py"
    warnings = re.findall(r'"(CPU usage[^"]*)"', runners.read_text())
    assert len(warnings) >= 2, warnings
    for warning in warnings:
        assert locust_cpu_saturated(f"[2026] host/WARNING/locust.runners: {warning}"), warning
    assert not locust_cpu_saturated("Ramping to 4 users at a rate of 2.00 per second")
