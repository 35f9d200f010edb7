"""The worker's loop in-process against a real redis-server: what it takes next (a dead
worker's jobs first, then a batch), poison answered, the stop flag, Redis going away, and its
progress ticks. The model is the real classifier with a stand-in runtime of known cost."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import numpy as np
import pytest
import redis

from harness.stack.network import free_port
from services import queue
from services.model.batching import choose
from services.model.classifiers import get_classifier
from services.model.heartbeat import Progress
from services.model.inference import BatchClassifier
from services.model.jobs import JobQueue
from services.model.worker import StopFlag, Worker
from services.queue import WorkerInfo
from services.settings import load_settings
from tests.services.test_jobs import redis_url, submit, wait_idle  # noqa: F401 (fixture)
from tests.waiting import wait_until


class CostRuntime:
    """A stand-in model with a known cost: `per_batch_s` + `per_image_s` × images."""

    def __init__(self, per_batch_s: float = 0.0, per_image_s: float = 0.0) -> None:
        self.per_batch_s = per_batch_s
        self.per_image_s = per_image_s

    def logits(self, batch: np.ndarray) -> np.ndarray:
        time.sleep(self.per_batch_s + self.per_image_s * len(batch))
        return np.zeros((len(batch), 1000), dtype=np.float32)


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:  # noqa: F811
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


def make_worker(client: redis.Redis, worker_id: str, wait_budget_ms: float = 0) -> Worker:
    settings = load_settings({"WORKER_ID": worker_id, "HEARTBEAT_TTL_S": "1", "MAX_BATCH": "4"})
    classifier = get_classifier("efficientnet-lite0", None)
    model = BatchClassifier(classifier, CostRuntime(), settings.max_image_pixels)
    job_queue = JobQueue(client, worker_id, settings.heartbeat_ttl_s)
    job_queue.ensure_group()
    info = WorkerInfo(worker_id, "efficientnet-lite0", "onnxruntime", "cpu", True, 4)
    client.set(queue.heartbeat_key(worker_id), info.encode(), px=60_000)
    return Worker(settings, model, job_queue, wait_budget_ms, Progress())


def test_a_dead_workers_jobs_come_first_then_a_batch(client: redis.Redis, sample_images):
    dead = JobQueue(client, "dead", 1)
    dead.ensure_group()
    orphan = submit(client, sample_images["cat"])
    dead.read(1, 100)
    worker = make_worker(client, "w1")
    fresh = [submit(client, sample_images["coffee"]) for _ in range(2)]
    wait_idle(client, orphan, 1000)
    assert [job.job_id for job in worker.next_jobs()] == [orphan]
    assert [job.job_id for job in worker.next_jobs()] == fresh


def test_a_job_that_killed_every_worker_is_answered_500(client: redis.Redis, sample_images):
    first = JobQueue(client, "victim-0", 1)
    first.ensure_group()
    job_id = submit(client, sample_images["cat"])
    first.read(1, 100)
    for victim in ("victim-1", "victim-2"):  # delivered to three consumers that all died
        wait_idle(client, job_id, 1000)
        client.xclaim(queue.STREAM, queue.GROUP, victim, 1000, [job_id])
    wait_idle(client, job_id, 1000)
    worker = make_worker(client, "w1")
    assert worker.next_jobs() == []
    answer, _ = queue.decode_answer(client.lpop(queue.result_key(job_id)))
    assert answer == queue.JobError(500, "this image crashed every worker that read it")


def test_the_loop_answers_with_timings_ticks_and_stops_on_the_flag(
    client: redis.Redis, sample_images
):
    worker = make_worker(client, "w1")
    progress = worker._progress
    stop = StopFlag()
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    try:
        job_id = submit(client, sample_images["coffee"])
        reply = client.blpop([queue.result_key(job_id)], timeout=30)
        assert reply is not None
        _, timings = queue.decode_answer(reply[1])
        assert timings.decode > 0 and timings.queue_wait >= 0 and timings.sent_at > 0
        wait_until(lambda: progress.age_s() < 0.6, 5, "the idle loop to tick")
    finally:
        stop.stopping = True
        loop.join(timeout=10)
    assert not loop.is_alive()


def test_redis_going_away_is_waited_out_not_raised(caplog):
    gone = redis.Redis(port=free_port(), socket_connect_timeout=0.2)
    worker = make_worker_without_redis(gone)
    stop = StopFlag()
    loop = threading.Thread(target=worker.run, args=(stop,))
    loop.start()
    retried = lambda: caplog.text.count("redis unavailable") >= 2  # noqa: E731
    wait_until(retried, 15, "two retries")
    assert loop.is_alive(), "the loop neither raises nor exits while Redis is away"
    stop.stopping = True
    loop.join(timeout=10)
    assert not loop.is_alive()


def make_worker_without_redis(client: redis.Redis) -> Worker:
    settings = load_settings({"WORKER_ID": "lonely", "HEARTBEAT_TTL_S": "1"})
    classifier = get_classifier("efficientnet-lite0", None)
    model = BatchClassifier(classifier, CostRuntime(), settings.max_image_pixels)
    return Worker(settings, model, JobQueue(client, "lonely", 1), 0, Progress())


TEMPLATE = np.zeros((1, 3, 8, 8), dtype=np.float32)


def test_a_model_whose_cost_is_flat_per_batch_gets_a_waiting_budget():
    choice = choose(CostRuntime(per_batch_s=0.01), TEMPLATE, 16, None)
    assert choice.pays and choice.wait_budget_ms == 5.0
    assert choice.image_ms_by_batch[16] < choice.image_ms_by_batch[1] / 8


def test_a_model_whose_cost_is_per_image_gets_none():
    choice = choose(CostRuntime(per_image_s=0.002), TEMPLATE, 8, None)
    assert not choice.pays and choice.wait_budget_ms == 0.0


def test_an_explicit_max_wait_ms_is_obeyed_either_way():
    assert choose(CostRuntime(per_image_s=0.002), TEMPLATE, 4, 7.0).wait_budget_ms == 7.0
    assert choose(CostRuntime(per_batch_s=0.01), TEMPLATE, 4, 0.0).wait_budget_ms == 0.0
