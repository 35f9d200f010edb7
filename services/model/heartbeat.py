"""A thread that keeps this worker's heartbeat key alive while the main thread computes."""

from __future__ import annotations

import logging
import threading

import redis

from services import queue
from services.queue import WorkerInfo

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, client: redis.Redis, info: WorkerInfo, ttl_s: float) -> None:
        self._client = client
        self._info = info
        self._ttl_ms = int(ttl_s * 1000)
        # Three beats per TTL: one lost beat never makes a live worker look dead.
        self._interval_s = ttl_s / 3
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def _beat(self) -> None:
        key = queue.heartbeat_key(self._info.worker_id)
        self._client.set(key, self._info.encode(), px=self._ttl_ms)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            try:
                self._beat()
            except redis.RedisError as error:
                log.warning("heartbeat failed: %s", error)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def forget(self) -> None:
        """Say at once that this worker is gone, instead of letting the key expire."""
        self._client.delete(queue.heartbeat_key(self._info.worker_id))
