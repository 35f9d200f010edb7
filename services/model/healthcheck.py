"""`python -m services.model.healthcheck`: exit 0 when this container's worker has a heartbeat.

The worker is WORKER_ID when set; otherwise any worker named `<hostname>-<pid>` for this host,
since the check runs as another process than the worker it checks.
"""

from __future__ import annotations

import os
import socket
import sys

import redis

from services import queue
from services.settings import SettingsError, load_settings


def main() -> int:
    try:
        settings = load_settings()
    except SettingsError as error:
        print(f"healthcheck: {error}", file=sys.stderr)
        return 2
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    try:
        if os.environ.get("WORKER_ID", "").strip():
            alive = bool(client.exists(queue.heartbeat_key(settings.worker_id)))
        else:
            pattern = queue.heartbeat_key(f"{socket.gethostname()}-*")
            alive = next(client.scan_iter(match=pattern, count=1000), None) is not None
    except redis.RedisError as error:
        print(f"healthcheck: redis unavailable: {error}", file=sys.stderr)
        return 1
    if not alive:
        print("healthcheck: no fresh heartbeat from this worker", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
