"""Fixtures every test folder may use: the repository root and free local ports."""

import signal
from pathlib import Path

import pytest

from harness.stack.network import free_port as find_free_port

REPO_ROOT = Path(__file__).resolve().parent.parent

# The CLIs the tests start meet Ctrl-C as in a terminal, even when this suite runs as a background
# job (which starts with SIGINT ignored, a disposition every child would inherit and keep).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture
def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (tests never assume 8000 or 6379 are)."""
    return find_free_port()
