"""Ports on this machine: the API's, a free one, one already taken."""

import socket
from urllib.parse import urlparse


def api_port(host: str) -> int:
    parsed = urlparse(host)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0
