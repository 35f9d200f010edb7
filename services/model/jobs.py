"""The worker's side of the queue protocol (services.queue): read, reclaim and answer jobs."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

import redis

from services import queue
from services.queue import JobError, Prediction, WorkerTimings

# While waiting for a batch to fill: a slice this long that brings no job ends the wait.
WAIT_SLICE_MS = 1
# A batch's answers and bookkeeping in one call, atomic: each answer is pushed (the API's BLPOP
# wakes at once) and expires; the worker's count and the batch size are tallied; the jobs are
# acknowledged and deleted. KEYS: the stream, the batch-size tally, this worker's counter.
# ARGV: the group, the result key prefix, the result TTL, the counter's TTL, the batch size
# (0: none), then job ids and answers in pairs (an empty answer only acknowledges).
ANSWER = """
local group, prefix, ttl, counter_ttl, batch = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local answered = 0
for index = 6, #ARGV, 2 do
    local job_id, answer = ARGV[index], ARGV[index + 1]
    if answer ~= '' then
        redis.call('LPUSH', prefix .. job_id, answer)
        redis.call('EXPIRE', prefix .. job_id, ttl)
        answered = answered + 1
    end
    redis.call('XACK', KEYS[1], group, job_id)
    redis.call('XDEL', KEYS[1], job_id)
end
if answered > 0 then
    redis.call('INCRBY', KEYS[3], answered)
    redis.call('EXPIRE', KEYS[3], counter_ttl)
end
if batch ~= '0' then
    redis.call('HINCRBY', KEYS[2], batch, 1)
end
return answered
"""


@dataclass(frozen=True)
class Job:
    job_id: str
    # None when the API deleted the entry (it gave up waiting) before a worker claimed it.
    image: bytes | None
    enqueued_at: float | None  # epoch seconds; None for entries queued without it
    taken_at: float  # epoch seconds, when this worker read it


def _jobs(entries: Iterable[tuple[bytes, dict[bytes, bytes] | None]]) -> list[Job]:
    taken_at = time.time()
    jobs = []
    for entry_id, fields in entries:
        if entry_id is None:
            continue
        fields = fields or {}
        enqueued = fields.get(queue.ENQUEUED_AT_FIELD)
        jobs.append(
            Job(
                job_id=entry_id.decode(),
                image=fields.get(queue.IMAGE_FIELD),
                enqueued_at=float(enqueued) if enqueued is not None else None,
                taken_at=taken_at,
            )
        )
    return jobs


class JobQueue:
    def __init__(self, client: redis.Redis, worker_id: str, heartbeat_ttl_s: float) -> None:
        self._client = client
        self._worker_id = worker_id
        # A job idle this long on a consumer without heartbeat belongs to a dead worker.
        self._claim_idle_ms = int(heartbeat_ttl_s * 1000)
        self._answer = client.register_script(ANSWER)

    def ensure_group(self) -> None:
        try:
            self._client.xgroup_create(queue.STREAM, queue.GROUP, id="0", mkstream=True)
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    def read(self, count: int, block_ms: int | None = None) -> list[Job]:
        """New jobs, waiting up to block_ms for the first (a blocking read, not a poll; None:
        what is queued now, at once)."""
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

    def reclaim(self, count: int) -> tuple[list[Job], list[str]]:
        """Take over up to `count` jobs of dead consumers, wherever they sit in the pending list.

        A consumer is dead when it holds jobs and has no heartbeat: its own pending entries are
        read (XPENDING filtered by consumer), so live workers' entries never hide them, and a
        live worker's jobs are never taken. Returns the jobs to serve and the ids of jobs that
        killed MAX_DELIVERIES consumers already: serving those again would only kill this
        worker too.
        """
        jobs: list[Job] = []
        poison: list[str] = []
        for consumer in self._dead_consumers_holding_jobs():
            room = count - len(jobs)
            if room <= 0:
                break
            pending = self._client.xpending_range(
                queue.STREAM,
                queue.GROUP,
                min="-",
                max="+",
                count=room,
                consumername=consumer,
                idle=self._claim_idle_ms,
            )
            poison += [
                entry["message_id"].decode()
                for entry in pending
                if entry["times_delivered"] >= queue.MAX_DELIVERIES
            ]
            to_claim = [
                entry["message_id"]
                for entry in pending
                if entry["times_delivered"] < queue.MAX_DELIVERIES
            ]
            if to_claim:
                claimed = _jobs(
                    self._client.xclaim(
                        queue.STREAM, queue.GROUP, self._worker_id, self._claim_idle_ms, to_claim
                    )
                )
                # A job the API withdrew (its client gave up) is claimed with no entry: nobody
                # waits for it, so it is acknowledged rather than left pending on this worker.
                served = {job.job_id.encode() for job in claimed}
                withdrawn = [job_id for job_id in to_claim if job_id not in served]
                if withdrawn:
                    self._client.xack(queue.STREAM, queue.GROUP, *withdrawn)
                jobs += claimed
        self._forget_dead_consumers()
        return jobs, poison

    def _consumers(self) -> list[tuple[str, int]]:
        """(name, pending jobs) of every consumer of the group."""
        found = []
        for consumer in self._client.xinfo_consumers(queue.STREAM, queue.GROUP):
            name = consumer["name"]
            found.append((name.decode() if isinstance(name, bytes) else name, consumer["pending"]))
        return found

    def _dead_consumers_holding_jobs(self) -> list[str]:
        return [
            name
            for name, pending in self._consumers()
            if pending > 0 and name != self._worker_id and not self._alive(name)
        ]

    def _alive(self, worker_id: str) -> bool:
        return bool(self._client.exists(queue.heartbeat_key(worker_id)))

    def _forget_dead_consumers(self) -> None:
        # Keeps the group's consumer list bounded across worker restarts.
        for name, pending in self._consumers():
            if pending == 0 and name != self._worker_id and not self._alive(name):
                self._client.xgroup_delconsumer(queue.STREAM, queue.GROUP, name)

    def answer(
        self,
        answers: dict[str, Prediction | JobError | None],
        forward_batch_size: int,
        timings: dict[str, WorkerTimings] | None = None,
    ) -> None:
        """Push every answer, count them, acknowledge and delete the jobs: one atomic call.

        A None answer only acknowledges (nobody waits for it any more).
        """
        pairs: list[str | bytes] = []
        for job_id, answer in answers.items():
            encoded = (
                b"" if answer is None else queue.encode_answer(answer, (timings or {}).get(job_id))
            )
            pairs += [job_id, encoded]
        self._answer(
            keys=[queue.STREAM, queue.BATCH_SIZES_KEY, queue.jobs_done_key(self._worker_id)],
            args=[
                queue.GROUP,
                queue.RESULT_PREFIX,
                queue.RESULT_TTL_S,
                queue.COUNTER_TTL_S,
                forward_batch_size,
                *pairs,
            ],
        )

    def leave(self) -> None:
        """Drop this consumer from the group if it holds no unacknowledged job."""
        summary = self._client.xpending_range(
            queue.STREAM, queue.GROUP, min="-", max="+", count=1, consumername=self._worker_id
        )
        if not summary:
            self._client.xgroup_delconsumer(queue.STREAM, queue.GROUP, self._worker_id)


def collect_batch(
    job_queue: JobQueue, max_batch: int, wait_budget_ms: float, block_ms: int
) -> list[Job]:
    """Block for the first job and take every job queued with it, up to max_batch; then, only
    with a waiting budget (services.model.batching), wait for more while they keep coming.

    A slice of WAIT_SLICE_MS that brings nothing ends the wait: the worker cannot expect more
    (with several replicas, the other jobs in flight are theirs), so waiting would only add
    latency. One read per slice, never one per job. The slice is slept here, then read at once:
    Redis ends a blocking read's timeout only at its clock's tick (`hz`, 10 a second by
    default), so a read blocking 1 ms for nothing took 100 ms, and a lone job waited that long.
    """
    jobs = job_queue.read(max_batch, block_ms)
    if not jobs or wait_budget_ms <= 0:
        return jobs
    deadline = time.monotonic() + wait_budget_ms / 1000
    while len(jobs) < max_batch and (left_s := deadline - time.monotonic()) > 0:
        time.sleep(min(WAIT_SLICE_MS / 1000, left_s))
        more = job_queue.read(max_batch - len(jobs))
        if not more:
            break
        jobs.extend(more)
    return jobs
