"""`python -m services.api.serve --host H --port P`: the API under uvicorn, API_WORKERS processes.

One process serves until it is the limit (docs/stack.md: when to add API workers). With more,
each is a uvicorn worker and their Prometheus metrics are joined through files in a fresh
folder (prometheus_client's multiprocess mode), so /metrics counts every process's requests
whichever one answers it.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

from services.settings import SettingsError, load_settings

MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    options = parser.parse_args()
    try:
        workers = load_settings().api_workers
    except SettingsError as error:
        print(f"api: {error}", file=sys.stderr)
        return 2
    if workers > 1:
        # Set before any worker imports prometheus_client: each reads it at import.
        os.environ[MULTIPROCESS_DIR] = tempfile.mkdtemp(prefix="api-metrics-")
    os.execvp(
        sys.executable,
        [
            sys.executable,
            "-m",
            "uvicorn",
            "services.api.app:app",
            "--host",
            options.host,
            "--port",
            str(options.port),
            "--workers",
            str(workers),
            "--no-access-log",
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
