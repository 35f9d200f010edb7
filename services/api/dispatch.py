"""The API's side of the queue protocol (services.queue): submit a job, wait for its answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from services import queue
from services.queue import JobError, Prediction, WorkerInfo, WorkerTimings

# Check the depth and enqueue in one step, so concurrent requests cannot overshoot the limit.
# The job carries the moment Redis queued it (its own clock, to the microsecond): the queue wait
# starts there, and the API's enqueue stage ends there, so the two never overlap.
ENQUEUE_IF_ROOM = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
    return false
end
local now = redis.call('TIME')
local enqueued_at = now[1] .. '.' .. string.format('%06d', now[2])
local id = redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3], ARGV[4], enqueued_at)
return {id, enqueued_at}
"""


class QueueFull(Exception):
    pass


class NoAnswerInTime(Exception):
    pass


@dataclass(frozen=True)
class Answered:
    """A job's answer, and where its time went between the API and the worker (seconds)."""

    answer: Prediction | JobError
    enqueue_s: float
    worker: WorkerTimings | None  # None from a worker that sends no timings
    returned_s: float | None  # the answer's way back: pushed by the worker -> here


@dataclass(frozen=True)
class QueueStats:
    depth: int
    jobs_by_worker: dict[str, int]
    batch_size_counts: dict[int, int]


class Dispatcher:
    def __init__(self, client: aioredis.Redis, queue_max_len: int, timeout_s: float) -> None:
        self._client = client
        self._queue_max_len = queue_max_len
        self._timeout_s = timeout_s
        self._enqueue = client.register_script(ENQUEUE_IF_ROOM)

    async def classify(self, image: bytes) -> Answered:
        started = time.time()
        queued = await self._enqueue(
            keys=[queue.STREAM],
            args=[self._queue_max_len, queue.IMAGE_FIELD, image, queue.ENQUEUED_AT_FIELD],
        )
        if queued is None:
            raise QueueFull
        entry_id, enqueued_at = queued
        enqueue_s = max(float(enqueued_at) - started, 0.0)
        job_id = entry_id.decode()
        # Blocks in Redis until a worker pushes the answer: no polling, no sleeping.
        reply = await self._client.blpop([queue.result_key(job_id)], timeout=self._timeout_s)
        if reply is None:
            # Nobody waits for it any more; spare the workers if none has taken it yet.
            await self._client.xdel(queue.STREAM, job_id)
            raise NoAnswerInTime
        received_at = time.time()
        answer, timings = queue.decode_answer(reply[1])
        returned_s = max(received_at - timings.sent_at, 0.0) if timings is not None else None
        return Answered(answer, enqueue_s, timings, returned_s)

    async def live_workers(self) -> list[WorkerInfo]:
        keys = [key async for key in self._client.scan_iter(match=queue.HEARTBEAT_PREFIX + "*")]
        if not keys:
            return []
        values = await self._client.mget(keys)
        # A heartbeat may expire between SCAN and MGET.
        return [WorkerInfo.decode(value) for value in values if value is not None]

    async def stats(self) -> QueueStats:
        counter_keys = [
            key async for key in self._client.scan_iter(match=queue.JOBS_DONE_PREFIX + "*")
        ]
        counts = await self._client.mget(counter_keys) if counter_keys else []
        prefix_length = len(queue.JOBS_DONE_PREFIX)
        return QueueStats(
            depth=await self._client.xlen(queue.STREAM),
            jobs_by_worker={
                key.decode()[prefix_length:]: int(count)
                for key, count in zip(counter_keys, counts, strict=True)
                if count is not None
            },
            batch_size_counts={
                int(size): int(count)
                for size, count in (await self._client.hgetall(queue.BATCH_SIZES_KEY)).items()
            },
        )
