"""Nothing accepted is lost: a worker killed mid-batch, a worker drained by SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml
from stack_processes import REPO, LocalStack

from services import queue
from tests.waiting import wait_until

MAX_BATCH = 4


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path_factory.mktemp("resilience"),
        model_cache_dir,
        {"HEARTBEAT_TTL_S": "1", "MAX_BATCH": str(MAX_BATCH), "EXPECTED_WORKERS": "1"},
    )
    try:
        yield local
    finally:
        local.close()


@pytest.fixture(autouse=True)
def no_worker_outlives_its_test(stack: LocalStack) -> Iterator[None]:
    yield
    stack.stop_workers()


def pending_on(stack: LocalStack, worker_id: str) -> int:
    return len(
        stack.redis.xpending_range(queue.STREAM, queue.GROUP, "-", "+", 100, consumername=worker_id)
    )


def test_kill_9_of_one_of_two_workers_under_load_loses_nothing(
    stack: LocalStack, sample_images
) -> None:
    victim = stack.start_worker("victim")
    survivor = stack.start_worker("survivor")
    stack.wait_for_workers(2)
    killed = threading.Event()
    images = list(sample_images.values())

    def client(index: int) -> list[int]:
        statuses: list[int] = []
        after_kill = 0
        # Bounded: keep the load on until the kill, then a few more requests each.
        while len(statuses) < 150 and after_kill < 3:
            image = images[(index + len(statuses)) % len(images)]
            response = stack.http.post("/predict", files={"file": ("photo.jpg", image)})
            statuses.append(response.status_code)
            after_kill += killed.is_set()
        return statuses

    with ThreadPoolExecutor(6) as pool:
        clients = [pool.submit(client, index) for index in range(6)]

        def victim_frozen_with_jobs() -> bool:
            victim.send(signal.SIGSTOP)
            if pending_on(stack, "victim"):
                return True
            victim.send(signal.SIGCONT)
            return False

        wait_until(victim_frozen_with_jobs, 30, "the victim to hold jobs")
        victim.send(signal.SIGKILL)
        killed.set()
        statuses = [status for future in clients for status in future.result()]

    assert victim.popen.wait(10) == -signal.SIGKILL
    assert statuses and set(statuses) == {200}, statuses
    assert pending_on(stack, "victim") == 0
    assert stack.redis.xlen(queue.STREAM) == 0
    assert survivor.running()
    wait_until(
        lambda: not stack.redis.exists(queue.heartbeat_key("victim")), 10, "the victim's beat gone"
    )
    assert stack.redis.exists(queue.heartbeat_key("survivor")), "the survivor beats on"
    assert survivor.stop() == 0


def model_healthcheck() -> str:
    """The model service's healthcheck as its container's shell runs it (Compose turns `$$` into
    `$`, which that shell expands)."""
    compose = yaml.safe_load((REPO / "compose" / "docker-compose.yml").read_text())
    kind, command = compose["services"]["model"]["healthcheck"]["test"]
    assert kind == "CMD-SHELL", "a shell command, no interpreter"
    return command.replace("$$", "$")


def test_the_healthcheck_passes_while_the_worker_beats_and_fails_once_it_stops(
    stack: LocalStack, tmp_path: Path
) -> None:
    alive_file = tmp_path / "worker-id"
    environment = {"PATH": os.environ["PATH"], "WORKER_ID_FILE": str(alive_file)}

    def healthcheck(ttl_s: str) -> int:
        run = subprocess.run(
            ["sh", "-c", model_healthcheck()],
            env={**environment, "HEARTBEAT_TTL_S": ttl_s},
            timeout=30,
            capture_output=True,
        )
        return run.returncode

    assert healthcheck("1") == 1, "no worker has announced itself"
    worker = stack.start_worker("announced", env={"WORKER_ID_FILE": str(alive_file)})
    wait_until(alive_file.is_file, 90, "the worker's first beat")
    assert alive_file.read_text() == "announced"
    first_beat = alive_file.stat().st_mtime
    wait_until(lambda: alive_file.stat().st_mtime > first_beat, 10, "the next beat")
    assert healthcheck("1") == 0
    worker.send(signal.SIGSTOP)  # frozen: no more beats, the file ages
    try:
        wait_until(lambda: healthcheck("1") == 1, 10, "the healthcheck to see no fresh beat")
        assert healthcheck("60") == 0, "a longer TTL still finds the last beat fresh"
    finally:
        worker.send(signal.SIGCONT)
    assert worker.stop() == 0
    assert not alive_file.exists(), "a worker that stops says so at once"
    assert healthcheck("60") == 1


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(stack: LocalStack, sample_images) -> None:
    worker = stack.start_worker("drained")
    wait_until(lambda: stack.live_workers() == 1, 90, "only the drained worker alive")
    worker.send(signal.SIGSTOP)
    requests = 2 * MAX_BATCH
    with ThreadPoolExecutor(requests) as pool:
        answers = [
            pool.submit(
                stack.http.post, "/predict", files={"file": ("cat.jpg", sample_images["cat"])}
            )
            for _ in range(requests)
        ]
        wait_until(lambda: stack.redis.xlen(queue.STREAM) == requests, 30, "all jobs queued")
        worker.send(signal.SIGTERM)
        worker.send(signal.SIGCONT)
        assert worker.popen.wait(30) == 0
        served = int(stack.redis.get(queue.jobs_done_key("drained")) or 0)
        assert 1 <= served <= MAX_BATCH, "it serves the batch in hand, and no new one"
        assert pending_on(stack, "drained") == 0
        assert not stack.redis.exists(queue.heartbeat_key("drained"))
        assert stack.redis.xlen(queue.STREAM) == requests - served
        stack.start_worker("successor")
        assert [answer.result().status_code for answer in answers] == [200] * requests


def test_workers_and_api_carry_on_after_redis_restarts_empty(
    stack: LocalStack, sample_images
) -> None:
    worker = stack.start_worker("steadfast")
    wait_until(lambda: "steadfast" in worker_ids(stack), 90, "the steadfast worker")
    stack.restart_redis()
    wait_until(lambda: "steadfast" in worker_ids(stack), 30, "a heartbeat in the new redis")
    response = stack.http.post("/predict", files={"file": ("cat.jpg", sample_images["cat"])})
    assert response.status_code == 200, response.text
    assert worker.running()


def worker_ids(stack: LocalStack) -> set[str]:
    return {
        key.decode().rsplit(":", 1)[1] for key in stack.redis.keys(queue.HEARTBEAT_PREFIX + "*")
    }
