"""Waiting in tests: poll a condition until it holds, bounded by a deadline."""

import time
from collections.abc import Callable
from typing import TypeVar

POLL_INTERVAL_S = 0.05

T = TypeVar("T")


def wait_until(condition: Callable[[], T], timeout_s: float, what: str) -> T:
    """The condition's first truthy value; fails the test once `timeout_s` has passed."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)
