"""A thread that keeps this worker's heartbeat key alive while its main loop makes progress.

Alive means making progress: the main loop ticks `Progress` on every turn (each batch, and each
idle read, which returns every READ_BLOCK_MS); the heartbeat stops being refreshed once the last
tick is older than STALL_TIMEOUT_S, so a loop stuck in a forward pass that hangs lets its key
expire (HEARTBEAT_TTL_S later). Then /ready stops counting it and a survivor takes its pending
jobs over (services.model.jobs). With the defaults (stall 10 s, TTL 5 s, reclaim every TTL/2)
a stuck worker's jobs are served elsewhere about 17.5 s after it stopped, within the API's 30 s
REQUEST_TIMEOUT_S. A model whose MAX_BATCH forward pass can take longer than the stall bound
needs a higher STALL_TIMEOUT_S (the worker warns at start when its warm-up came near it).
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import redis

from services import queue
from services.queue import WorkerInfo

log = logging.getLogger(__name__)


class Progress:
    """When the main loop last completed a turn (monotonic seconds)."""

    def __init__(self) -> None:
        self._last = time.monotonic()

    def tick(self) -> None:
        self._last = time.monotonic()

    def age_s(self) -> float:
        return time.monotonic() - self._last


class Heartbeat:
    def __init__(
        self,
        client: redis.Redis,
        info: WorkerInfo,
        ttl_s: float,
        progress: Progress,
        stall_timeout_s: float,
        alive_file: Path | None = None,
    ) -> None:
        self._client = client
        # Written at every beat that reached Redis: a file younger than the TTL says the worker
        # is alive to a healthcheck that starts no interpreter (compose/docker-compose.yml).
        self._alive_file = alive_file
        self._info = info
        self._ttl_ms = int(ttl_s * 1000)
        # Three beats per TTL: one lost beat never makes a live worker look dead.
        self._interval_s = ttl_s / 3
        self._progress = progress
        self._stall_timeout_s = stall_timeout_s
        self._stalled = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._beat()
        self._thread.start()

    def _beat(self) -> None:
        key = queue.heartbeat_key(self._info.worker_id)
        self._client.set(key, self._info.encode(), px=self._ttl_ms)
        if self._alive_file is not None:
            self._alive_file.write_text(self._info.worker_id)

    def _run(self) -> None:
        while not self._stopped.wait(self._interval_s):
            stalled = self._progress.age_s() > self._stall_timeout_s
            if stalled != self._stalled:
                self._stalled = stalled
                if stalled:
                    log.error(
                        "no progress for %.0f s (STALL_TIMEOUT_S): no more heartbeats, so that"
                        " another worker takes over this one's jobs",
                        self._progress.age_s(),
                    )
                else:
                    log.warning("progressing again: heartbeats resume")
            if stalled:
                continue
            try:
                self._beat()
            except redis.RedisError as error:
                log.warning("heartbeat failed: %s", error)

    def stop(self) -> None:
        self._stopped.set()
        self._thread.join()

    def forget(self) -> None:
        """Say at once that this worker is gone, instead of letting the key expire."""
        if self._alive_file is not None:
            self._alive_file.unlink(missing_ok=True)
        self._client.delete(queue.heartbeat_key(self._info.worker_id))
