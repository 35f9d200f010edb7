"""The worker's side of the queue protocol (services.queue): read, reclaim and answer jobs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from services import queue
from services.queue import JobError, Prediction


@dataclass(frozen=True)
class Job:
    job_id: str
    # None when the API deleted the entry (it gave up waiting) before a worker claimed it.
    image: bytes | None


def _jobs(entries: Iterable[tuple[bytes, dict[bytes, bytes] | None]]) -> list[Job]:
    return [
        Job(job_id=entry_id.decode(), image=(fields or {}).get(queue.IMAGE_FIELD))
        for entry_id, fields in entries
        if entry_id is not None
    ]


class JobQueue:
    def __init__(self, client: redis.Redis, worker_id: str, heartbeat_ttl_s: float) -> None:
        self._client = client
        self._worker_id = worker_id
        # A job idle this long on a consumer without heartbeat belongs to a dead worker.
        self._claim_idle_ms = int(heartbeat_ttl_s * 1000)

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(queue.STREAM, queue.GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def read(self, count: int, block_ms: int) -> list[Job]:
        """New jobs, waiting up to block_ms for the first (a blocking read, not a poll)."""
        reply = self._client.xreadgroup(
            queue.GROUP, self._worker_id, {queue.STREAM: ">"}, count=count, block=block_ms
        )
        return _jobs(reply[0][1]) if reply else []

    def own_pending(self, count: int) -> list[Job]:
        """Jobs this consumer id was given before a restart and never acknowledged."""
        reply = self._client.xreadgroup(
            queue.GROUP, self._worker_id, {queue.STREAM: "0"}, count=count
        )
        return _jobs(reply[0][1]) if reply else []

    def accepted_count(self) -> int:
        """Jobs accepted by the API and not yet answered, by any worker."""
        return self._client.xlen(queue.STREAM)

    def reclaim(self, count: int) -> tuple[list[Job], list[str]]:
        """Take over jobs of dead consumers.

        Returns the jobs to serve and the ids of jobs that killed MAX_DELIVERIES consumers
        already: serving those again would only kill this worker too.
        """
        pending = self._client.xpending_range(
            queue.STREAM, queue.GROUP, min="-", max="+", count=count, idle=self._claim_idle_ms
        )
        consumers = {entry["consumer"] for entry in pending} - {self._worker_id.encode()}
        dead = {consumer for consumer in consumers if not self._alive(consumer.decode())}
        orphaned = [entry for entry in pending if entry["consumer"] in dead]
        poison = [
            entry["message_id"].decode()
            for entry in orphaned
            if entry["times_delivered"] >= queue.MAX_DELIVERIES
        ]
        to_claim = [
            entry["message_id"]
            for entry in orphaned
            if entry["times_delivered"] < queue.MAX_DELIVERIES
        ]
        claimed = (
            self._client.xclaim(
                queue.STREAM, queue.GROUP, self._worker_id, self._claim_idle_ms, to_claim
            )
            if to_claim
            else []
        )
        self._forget_dead_consumers()
        return _jobs(claimed), poison

    def _alive(self, worker_id: str) -> bool:
        return bool(self._client.exists(queue.heartbeat_key(worker_id)))

    def _forget_dead_consumers(self) -> None:
        # Keeps the group's consumer list bounded across worker restarts.
        for consumer in self._client.xinfo_consumers(queue.STREAM, queue.GROUP):
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else name
            if consumer["pending"] == 0 and name != self._worker_id and not self._alive(name):
                self._client.xgroup_delconsumer(queue.STREAM, queue.GROUP, name)

    def answer(
        self, answers: dict[str, Prediction | JobError | None], forward_batch_size: int
    ) -> None:
        """Push every answer, count them, acknowledge and delete the jobs: one transaction.

        A None answer only acknowledges (nobody waits for it any more).
        """
        pipe = self._client.pipeline(transaction=True)
        answered = 0
        for job_id, answer in answers.items():
            if answer is not None:
                key = queue.result_key(job_id)
                pipe.lpush(key, queue.encode_answer(answer))
                pipe.expire(key, queue.RESULT_TTL_S)
                answered += 1
        if answered:
            counter = queue.jobs_done_key(self._worker_id)
            pipe.incrby(counter, answered)
            pipe.expire(counter, queue.COUNTER_TTL_S)
        if forward_batch_size:
            pipe.hincrby(queue.BATCH_SIZES_KEY, str(forward_batch_size), 1)
        job_ids = list(answers)
        pipe.xack(queue.STREAM, queue.GROUP, *job_ids)
        pipe.xdel(queue.STREAM, *job_ids)
        pipe.execute()

    def leave(self) -> None:
        """Drop this consumer from the group if it holds no unacknowledged job."""
        summary = self._client.xpending_range(
            queue.STREAM, queue.GROUP, min="-", max="+", count=1, consumername=self._worker_id
        )
        if not summary:
            self._client.xgroup_delconsumer(queue.STREAM, queue.GROUP, self._worker_id)


def collect_batch(
    job_queue: JobQueue, max_batch: int, max_wait_ms: float, block_ms: int
) -> list[Job]:
    """Block for the first job, then take more until max_batch or max_wait_ms.

    The wait stops early when every job the API has accepted is already in hand: with closed-loop
    clients nobody is left to send another, and waiting would only add latency.
    """
    jobs = job_queue.read(max_batch, block_ms)
    if not jobs:
        return []
    deadline = time.monotonic() + max_wait_ms / 1000
    while len(jobs) < max_batch:
        remaining_ms = int((deadline - time.monotonic()) * 1000)
        if remaining_ms < 1 or job_queue.accepted_count() <= len(jobs):
            break
        more = job_queue.read(max_batch - len(jobs), remaining_ms)
        if not more:
            break
        jobs.extend(more)
    return jobs
