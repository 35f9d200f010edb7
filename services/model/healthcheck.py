"""`python -m services.model.healthcheck`: exit 0 when this container's worker has a heartbeat.

The check runs as another process than the worker it checks: it reads the worker's id from
WORKER_ID_FILE, which the worker writes once it is alive (the compose file sets it), or takes
WORKER_ID when that is set.
"""

from __future__ import annotations

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
    if settings.worker_id_file is not None:
        if not settings.worker_id_file.is_file():
            print("healthcheck: the worker has not announced itself yet", file=sys.stderr)
            return 1
        worker_id = settings.worker_id_file.read_text().strip()
    else:
        worker_id = settings.worker_id
    client = redis.Redis.from_url(settings.redis_url, socket_timeout=2)
    try:
        alive = bool(client.exists(queue.heartbeat_key(worker_id)))
    except redis.RedisError as error:
        print(f"healthcheck: redis unavailable: {error}", file=sys.stderr)
        return 1
    if not alive:
        print("healthcheck: no fresh heartbeat from this worker", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
