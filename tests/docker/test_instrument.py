"""The instrument on the compose path, for real: while a run lasts, the replica watch and the
telemetry ask the Docker engine's API and start no program (a `docker-compose ps` a second took
a fifth of a core from the stack it measured); a container that dies is still seen at once; and
the run's resources name the harness and the Docker engine beside the stack and Locust.

The stack is the reference one on the host network (compose/docker-compose.hostnet.yml), at one
replica, brought up once for the module; `sleep` plays Locust."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness import REPO_ROOT
from harness.matrix import Matrix, load_matrix
from harness.record.names import ENGINE, HARNESS, LOCUST
from harness.run.locust import watch
from harness.stack.compose import ComposeStack
from harness.stack.lifecycle import bring_down, bring_up, wait_ready
from harness.stack.network import free_port
from harness.telemetry.observe import Observer
from harness.telemetry.table import read_table
from tests.docker.sweeps import docker

pytestmark = [pytest.mark.docker, pytest.mark.slow]

INTERVAL_S = 0.1  # ten times as often as a run asks, so that a program per poll cannot hide
WATCHED_S = 3


@pytest.fixture(scope="module")
def compose_stack(
    docker_engine: Path, built_images, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Matrix, ComposeStack]]:
    folder = tmp_path_factory.mktemp("instrument")
    data = json.loads((REPO_ROOT / "matrix.json").read_text())
    data.update(host=f"http://127.0.0.1:{free_port()}", backend="compose", ready_timeout_s=240)
    data["stack"]["compose_files"]["cpu"] = [
        "compose/docker-compose.yml",
        "compose/docker-compose.hostnet.yml",
    ]
    (folder / "matrix.json").write_text(json.dumps(data))
    matrix = load_matrix(folder / "matrix.json")
    matrix = replace(matrix, telemetry=replace(matrix.telemetry, interval_s=INTERVAL_S))
    stack, _ready = bring_up(matrix.stack, "cpu", 1, "compose", folder / "stack")
    yield matrix, stack
    bring_down(stack, folder / "stack")


@pytest.fixture
def programs_started(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every program this process starts through subprocess, from now on: its argv."""
    started: list[list[str]] = []
    execute_child = subprocess.Popen._execute_child

    def counted(self, args, *rest, **options):
        started.append([str(arg) for arg in args] if isinstance(args, list) else [str(args)])
        return execute_child(self, args, *rest, **options)

    monkeypatch.setattr(subprocess.Popen, "_execute_child", counted)
    return started


def test_the_watch_and_telemetry_start_no_program_while_a_run_lasts(
    compose_stack: tuple[Matrix, ComposeStack], tmp_path: Path, programs_started: list
) -> None:
    matrix, stack = compose_stack
    locust = subprocess.Popen(["sleep", str(WATCHED_S)], start_new_session=True)
    programs_started.clear()  # the stand-in Locust is the run's, not the watch's
    observer = Observer(matrix, stack.members(), tmp_path / "run", cores=2)
    observer.start(locust.pid)
    watched = watch(locust, stack, budget_s=60, interval_s=INTERVAL_S)
    observer.finish()
    assert watched.failure is None
    assert programs_started == [], "the watch or telemetry started a program while the run lasted"
    sampled = {row["service"] for row in read_table(tmp_path / "run.resources.csv")}
    assert {"api-hostnet", "model", "redis", LOCUST, HARNESS, ENGINE} <= sampled


def test_a_container_that_dies_is_reported_with_its_exit_code_and_log(
    compose_stack: tuple[Matrix, ComposeStack],
) -> None:
    matrix, stack = compose_stack
    model = next(member for member in stack.members() if member.service == "model")
    locust = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        docker("kill", model.container_id)
        watched = watch(locust, stack, budget_s=60, interval_s=INTERVAL_S)
    finally:
        stack.restore()
        wait_ready(stack, matrix.stack)
    assert len(watched.lost) == 1
    gone = watched.lost[0]
    assert (gone.member_label, gone.exit_code) == ("model-1", 137)
    assert "is exited" in watched.failure
    assert "worker" in gone.log.lower(), "the container's own log comes with it"
    assert locust.poll() is not None, "Locust is stopped with the run"
