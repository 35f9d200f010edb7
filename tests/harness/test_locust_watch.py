"""The loop that watches Locust: it ends the run when a replica of the stack exits, or when
Locust overruns its time, and lets a run that finishes by itself be. Stand-ins: `sleep` plays
Locust, and a local stack whose one replica is `sleep` plays the stack (both real processes)."""

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from harness.matrix import load_matrix
from harness.run.locust import Watched, watch
from harness.stack.local import LocalStack


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    procfile = tmp_path / "Procfile"
    procfile.write_text("model: sleep 60\n")
    settings = replace(load_matrix().stack, procfile=procfile, env={})
    local = LocalStack.create(settings, "cpu", 1, {"REDIS_PORT": "9"}, tmp_path)
    local.start()
    yield local
    local.stop()


def stand_in_locust(command: str) -> subprocess.Popen:
    return subprocess.Popen(command.split(), start_new_session=True)


def test_a_replica_that_exits_ends_the_run_at_once(stack: LocalStack) -> None:
    locust = stand_in_locust("sleep 60")
    replica = stack.processes[0]
    os.killpg(replica.pid, signal.SIGKILL)
    started = time.monotonic()
    watched = watch(locust, stack, budget_s=60, interval_s=0.05)
    assert time.monotonic() - started < 10
    assert watched.failure == "model-1 was killed by signal 9 (exit code -9) during the run"
    assert [gone.name for gone in watched.lost] == ["model-1"]
    assert locust.poll() is not None, "Locust is stopped with the run"


def test_locust_that_overruns_its_time_is_stopped(stack: LocalStack) -> None:
    locust = stand_in_locust("sleep 60")
    watched = watch(locust, stack, budget_s=0.5, interval_s=0.05)
    assert (watched.failure, watched.lost) == ("Locust did not finish within 0s", [])
    assert locust.poll() is not None


def test_a_run_that_finishes_by_itself_is_no_failure(stack: LocalStack) -> None:
    locust = stand_in_locust("sleep 0.2")
    assert watch(locust, stack, budget_s=30, interval_s=0.05) == Watched()
    assert locust.returncode == 0
