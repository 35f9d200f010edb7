"""Starting the stand-in server (tests/standin/server.py), whose service time, and so latency and
capacity, are known, as a process of its own for a test."""

import subprocess
import sys

from harness import REPO_ROOT
from harness.run.locust import stop_group
from harness.stack.network import port_in_use
from tests.waiting import wait_until

LISTEN_TIMEOUT_S = 30


def start_server(port: int, service_ms: float, *options: str) -> subprocess.Popen:
    """The stand-in server on `port`, a FIFO server of `service_ms` a request (its other
    command-line `options` as given), once it listens. Stop it with harness.run.locust's
    stop_group (its group) or kill()."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.standin.server", "--port", str(port)]
        + ["--service-ms", f"{service_ms:g}", *options],
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: port_in_use(port), LISTEN_TIMEOUT_S, "the stand-in server")
    except BaseException:
        # The callers' cleanup covers only a server that started: one that never listened
        # (or a Ctrl-C meanwhile) is stopped here, not left running past the test.
        stop_group(process)
        raise
    return process
