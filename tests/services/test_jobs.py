"""The worker's side of the queue protocol against a real redis-server."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import redis
from stack_processes import Process, process_env, procfile_command

from harness.stack import free_port
from services import queue
from services.model.jobs import JobQueue, collect_batch
from services.queue import JobError, Prediction, WorkerInfo
from tests.waiting import wait_until


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    env = process_env(port, free_port(), {})
    log = tmp_path_factory.mktemp("redis") / "redis.log"
    server = Process("redis", procfile_command("redis", env), env, log)
    client = redis.Redis(port=port)

    def answers() -> bool:
        try:
            return bool(client.ping())
        except redis.ConnectionError:
            return False

    wait_until(answers, 10, "redis-server")
    yield f"redis://127.0.0.1:{port}/0"
    client.close()
    server.stop()


@pytest.fixture
def client(redis_url: str) -> Iterator[redis.Redis]:
    connection = redis.Redis.from_url(redis_url)
    connection.flushdb()
    yield connection
    connection.close()


def submit(client: redis.Redis, payload: bytes = b"image") -> str:
    return client.xadd(queue.STREAM, {queue.IMAGE_FIELD: payload}).decode()


def worker_queue(client: redis.Redis, worker_id: str, ttl_s: float = 1) -> JobQueue:
    job_queue = JobQueue(client, worker_id, heartbeat_ttl_s=ttl_s)
    job_queue.ensure_group()
    return job_queue


def test_a_batch_takes_what_is_queued_up_to_max_batch(client: redis.Redis) -> None:
    job_queue = worker_queue(client, "w1")
    ids = [submit(client, f"image {n}".encode()) for n in range(5)]
    batch = collect_batch(job_queue, max_batch=3, max_wait_ms=5, block_ms=100)
    assert [job.job_id for job in batch] == ids[:3]
    assert batch[0].image == b"image 0"
    rest = collect_batch(job_queue, max_batch=3, max_wait_ms=5, block_ms=100)
    assert [job.job_id for job in rest] == ids[3:]


def test_an_empty_queue_gives_an_empty_batch_after_blocking(client: redis.Redis) -> None:
    assert collect_batch(worker_queue(client, "w1"), 4, 5, block_ms=50) == []


def test_no_waiting_when_every_accepted_job_is_in_hand(client: redis.Redis) -> None:
    job_queue = worker_queue(client, "w1")
    submit(client)
    started = time.monotonic()
    batch = collect_batch(job_queue, max_batch=16, max_wait_ms=5_000, block_ms=100)
    assert len(batch) == 1
    assert time.monotonic() - started < 2.5, "waited for jobs nobody could send"


def test_the_window_gathers_jobs_that_arrive_while_others_are_in_flight(
    client: redis.Redis,
) -> None:
    other = worker_queue(client, "other")
    submit(client)
    assert len(other.read(1, 100)) == 1  # in flight elsewhere: more clients are active
    mine = worker_queue(client, "w1")
    first = submit(client)
    late = threading.Timer(0.3, submit, args=(client, b"late"))
    late.start()
    batch = collect_batch(mine, max_batch=16, max_wait_ms=3_000, block_ms=100)
    late.join()
    assert batch[0].job_id == first
    assert [job.image for job in batch] == [b"image", b"late"]


def test_answer_pushes_results_counts_and_forgets_the_jobs(client: redis.Redis) -> None:
    job_queue = worker_queue(client, "w1")
    good, bad = submit(client), submit(client)
    collect_batch(job_queue, 2, 0, 100)
    job_queue.answer(
        {good: Prediction("tabby", 0.9), bad: JobError(400, "not an image")}, forward_batch_size=1
    )
    assert queue.decode_answer(client.lpop(queue.result_key(good))) == Prediction("tabby", 0.9)
    assert queue.decode_answer(client.lpop(queue.result_key(bad))) == JobError(400, "not an image")
    assert 0 < client.ttl(queue.jobs_done_key("w1")) <= queue.COUNTER_TTL_S
    assert int(client.get(queue.jobs_done_key("w1"))) == 2
    assert client.hgetall(queue.BATCH_SIZES_KEY) == {b"1": b"1"}
    assert client.xlen(queue.STREAM) == 0
    assert client.xpending(queue.STREAM, queue.GROUP)["pending"] == 0


def test_results_expire(client: redis.Redis) -> None:
    job_queue = worker_queue(client, "w1")
    job_id = submit(client)
    collect_batch(job_queue, 1, 0, 100)
    job_queue.answer({job_id: Prediction("tabby", 0.5)}, 1)
    assert 0 < client.ttl(queue.result_key(job_id)) <= queue.RESULT_TTL_S


def beat(client: redis.Redis, worker_id: str) -> None:
    info = WorkerInfo(worker_id, "efficientnet-lite0", "onnxruntime", "cpu", True, 16)
    client.set(queue.heartbeat_key(worker_id), info.encode(), px=60_000)


def test_jobs_of_a_dead_worker_are_taken_over_and_of_a_live_one_are_not(
    client: redis.Redis,
) -> None:
    survivor = worker_queue(client, "survivor")
    beat(client, "survivor")
    dead, alive = worker_queue(client, "dead"), worker_queue(client, "alive")
    beat(client, "alive")
    dead_job = submit(client, b"orphan")
    assert len(dead.read(1, 100)) == 1
    submit(client)
    assert len(alive.read(1, 100)) == 1
    assert survivor.reclaim(16) == ([], [])  # not idle long enough yet: the owner may be busy
    time.sleep(1.1)
    reclaimed, poison = survivor.reclaim(16)
    assert [(job.job_id, job.image) for job in reclaimed] == [(dead_job, b"orphan")]
    assert poison == []
    consumers = {c["name"] for c in client.xinfo_consumers(queue.STREAM, queue.GROUP)}
    assert "dead" not in consumers, "a dead consumer with nothing pending is forgotten"


def test_a_job_that_killed_every_worker_is_given_up(client: redis.Redis) -> None:
    job_id = submit(client)
    worker_queue(client, "victim-0").read(1, 100)
    for victim in ("victim-1", "victim-2"):
        time.sleep(1.05)
        client.xclaim(queue.STREAM, queue.GROUP, victim, 1000, [job_id])
    time.sleep(1.05)
    survivor = worker_queue(client, "survivor")
    beat(client, "survivor")
    assert survivor.reclaim(16) == ([], [job_id])


def test_a_job_the_api_gave_up_on_is_acknowledged_without_an_answer(
    client: redis.Redis,
) -> None:
    job_queue = worker_queue(client, "w1")
    job_id = submit(client)
    assert len(job_queue.read(1, 100)) == 1
    client.xdel(queue.STREAM, job_id)
    # After a restart under the same id, the pending entry comes back without its data.
    pending = job_queue.own_pending(16)
    assert [(job.job_id, job.image) for job in pending] == [(job_id, None)]
    job_queue.answer({job_id: None}, 0)
    assert client.xpending(queue.STREAM, queue.GROUP)["pending"] == 0
    assert not client.exists(queue.result_key(job_id))
