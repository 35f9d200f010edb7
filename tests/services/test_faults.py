"""A worker whose model fails a batch answers every job of it and serves on; a worker whose
loop hangs stops counting as live and its job is served by another. Real redis-server, API and
worker processes; the faults come from tests/services/faulty_worker.py."""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from stack_processes import REPO, LocalStack

from services import queue
from tests.waiting import wait_until

FAULTY = [sys.executable, str(REPO / "tests" / "services" / "faulty_worker.py")]


@pytest.fixture
def stack(tmp_path: Path, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path,
        model_cache_dir,
        {"HEARTBEAT_TTL_S": "1", "STALL_TIMEOUT_S": "2", "EXPECTED_WORKERS": "1"},
    )
    try:
        yield local
    finally:
        local.close()


def start_faulty(stack: LocalStack, mode: str, arm: Path, worker_id: str):
    env = {**stack.env, "WORKER_ID": worker_id}
    return stack.start_process(f"faulty-{worker_id}", [*FAULTY, mode, str(arm)], env)


def test_a_wrong_sized_output_fails_its_batch_and_the_worker_serves_on(
    stack: LocalStack, sample_images, tmp_path: Path
) -> None:
    arm = tmp_path / "arm"
    faulty = start_faulty(stack, "wrong-size", arm, "short")
    stack.wait_for_workers(1)
    arm.touch()
    with ThreadPoolExecutor(2) as pool:
        answers = list(
            pool.map(
                lambda name: stack.http.post(
                    "/predict", files={"file": (name, sample_images[name])}
                ),
                ["cat", "coffee"],
            )
        )
    for answer in answers:
        assert answer.status_code == 500
        assert answer.json() == {"success": False, "error": "model failed: ValueError"}
    arm.unlink()
    healthy = stack.http.post("/predict", files={"file": ("cat", sample_images["coffee"])})
    assert healthy.status_code == 200 and healthy.json()["prediction"] == "espresso"
    assert faulty.running()
    assert "the model answered" in faulty.log_text()


def test_a_hung_worker_stops_counting_and_another_serves_its_job(
    stack: LocalStack, sample_images, tmp_path: Path
) -> None:
    arm = tmp_path / "arm"
    stuck = start_faulty(stack, "hang", arm, "stuck")
    stack.wait_for_workers(1)
    arm.touch()
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            stack.http.post, "/predict", files={"file": ("coffee", sample_images["coffee"])}
        )
        wait_until(lambda: pending_on(stack, "stuck") == 1, 30, "the stuck worker to hold the job")
        stack.start_worker("healthy")
        # The stuck worker stops beating STALL_TIMEOUT_S (2 s) into its stall, and its key
        # expires HEARTBEAT_TTL_S (1 s) later: /ready then counts the healthy one alone.
        wait_until(lambda: live_ids(stack) == {"healthy"}, 60, "only the healthy worker live")
        response = answer.result(timeout=60)
    assert response.status_code == 200, response.text
    assert response.json()["prediction"] == "espresso"
    assert pending_on(stack, "stuck") == 0
    stuck.send(signal.SIGKILL)  # it would sleep through a SIGTERM


def pending_on(stack: LocalStack, worker_id: str) -> int:
    return len(
        stack.redis.xpending_range(queue.STREAM, queue.GROUP, "-", "+", 100, consumername=worker_id)
    )


def live_ids(stack: LocalStack) -> set[str]:
    return {
        key.decode().rsplit(":", 1)[1] for key in stack.redis.keys(queue.HEARTBEAT_PREFIX + "*")
    }
