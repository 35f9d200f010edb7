"""Ports on this machine: the API's, a free one, one already taken."""

import random
import socket
from pathlib import Path
from urllib.parse import urlparse

# Where the kernel takes outgoing connections' own ports from. A free port from that range may be
# taken by a connection before its server binds it, so free ports are chosen under it, from
# FREE_FROM up.
EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
FREE_FROM = 20000
FREE_TRIES = 200
# Never the same port twice in one process, since none is bound yet when it is handed out: the
# kernel's choice gave a test's Redis and API one port, and the API could not bind it.
_handed_out: set[int] = set()


def api_port(host: str) -> int:
    parsed = urlparse(host)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now, under the range outgoing connections
    take their ports from, and not one this process was given before; where that range leaves
    no room under it, the kernel's choice, with neither promise."""
    below = _ephemeral_low()
    for _ in range(FREE_TRIES if below > FREE_FROM else 0):
        port = random.randrange(FREE_FROM, below)
        if port not in _handed_out and _bindable(port):
            _handed_out.add(port)
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True
