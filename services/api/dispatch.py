"""The API's side of the queue protocol (services.queue): submit a job, wait for its answer."""

from __future__ import annotations

from dataclasses import dataclass

import redis.asyncio as aioredis

from services import queue
from services.queue import JobError, Prediction, WorkerInfo

# Check the depth and enqueue in one step, so concurrent requests cannot overshoot the limit.
ENQUEUE_IF_ROOM = """
if redis.call('XLEN', KEYS[1]) >= tonumber(ARGV[1]) then
    return false
end
return redis.call('XADD', KEYS[1], '*', ARGV[2], ARGV[3])
"""


class QueueFull(Exception):
    pass


class NoAnswerInTime(Exception):
    pass


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

    async def classify(self, image: bytes) -> Prediction | JobError:
        entry_id = await self._enqueue(
            keys=[queue.STREAM], args=[self._queue_max_len, queue.IMAGE_FIELD, image]
        )
        if entry_id is None:
            raise QueueFull
        job_id = entry_id.decode()
        # Blocks in Redis until a worker pushes the answer: no polling, no sleeping.
        reply = await self._client.blpop([queue.result_key(job_id)], timeout=self._timeout_s)
        if reply is None:
            # Nobody waits for it any more; spare the workers if none has taken it yet.
            await self._client.xdel(queue.STREAM, job_id)
            raise NoAnswerInTime
        return queue.decode_answer(reply[1])

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
