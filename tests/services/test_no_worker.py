"""What a client gets when the workers cannot answer: 503 on a full queue, 504 on a timeout."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from stack_processes import LocalStack

from services import queue


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(
        tmp_path_factory.mktemp("no-worker"),
        model_cache_dir,
        {"REQUEST_TIMEOUT_S": "0.5", "QUEUE_MAX_LEN": "2", "EXPECTED_WORKERS": "1"},
    )
    try:
        yield local
    finally:
        local.close()


def test_not_ready_without_workers(stack: LocalStack) -> None:
    response = stack.http.get("/ready")
    assert response.status_code == 503
    assert response.json()["workers"] == 0 and response.json()["ready"] is False


def test_no_answer_in_time_is_504_and_the_job_is_withdrawn(
    stack: LocalStack, sample_images
) -> None:
    response = stack.http.post("/predict", files={"file": ("cat.jpg", sample_images["cat"])})
    assert response.status_code == 504
    assert response.json() == {
        "success": False,
        "error": "no answer from a model worker within 0.5 s",
    }
    assert stack.redis.xlen(queue.STREAM) == 0


def test_a_full_queue_is_503(stack: LocalStack, sample_images) -> None:
    for _ in range(2):
        stack.redis.xadd(queue.STREAM, {queue.IMAGE_FIELD: b"waiting"})
    try:
        response = stack.http.post("/predict", files={"file": ("cat.jpg", sample_images["cat"])})
        assert response.status_code == 503
        assert response.json() == {"success": False, "error": "queue is full, retry later"}
        assert stack.redis.xlen(queue.STREAM) == 2
    finally:
        stack.redis.delete(queue.STREAM)


def test_redis_gone_is_503_not_a_crash(stack: LocalStack, sample_images) -> None:
    stack.redis_process.stop()
    try:
        response = stack.http.post("/predict", files={"file": ("cat.jpg", sample_images["cat"])})
        assert response.status_code == 503
        assert response.json()["success"] is False
        ready = stack.http.get("/ready")
        assert ready.status_code == 503 and ready.json()["redis"] is False
        assert stack.http.get("/health").status_code == 200
    finally:
        stack.restart_redis()  # the module's other tests need it


def test_every_job_the_queue_accepts_may_wait_at_once(
    tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path, sample_images
) -> None:
    # 300 requests waiting together, under QUEUE_MAX_LEN 1000: each one waits its answer out
    # (504, no worker), none is turned away for want of a Redis connection.
    local = LocalStack(
        tmp_path_factory.mktemp("many-waiting"),
        model_cache_dir,
        {"REQUEST_TIMEOUT_S": "3", "EXPECTED_WORKERS": "1"},
    )

    async def post_together(count: int) -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=count)
        async with httpx.AsyncClient(base_url=local.http.base_url, limits=limits) as client:
            image = {"file": ("cat.jpg", sample_images["cat"])}
            return await asyncio.gather(
                *(client.post("/predict", files=image, timeout=30) for _ in range(count))
            )

    try:
        answers = asyncio.run(post_together(300))
    finally:
        local.close()
    statuses = {answer.status_code for answer in answers}
    turned_away = [answer.json() for answer in answers if answer.status_code != 504]
    assert statuses == {504}, turned_away[:3]
