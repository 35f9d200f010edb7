"""SIGTERM and SIGHUP end the harness the way Ctrl-C does; teardown is not cut short.

A signal the harness was started with ignored stays ignored (`nohup make bench` survives the
terminal's hang-up; a background job is not stopped by Ctrl-C meant for the foreground).
"""

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

ENDING_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signal.Signals(signum).name}")


@contextmanager
def interruptible() -> Iterator[None]:
    """Within: SIGTERM and SIGHUP raise KeyboardInterrupt, so every `finally` tears down."""
    previous = {
        signum: signal.signal(signum, _interrupt)
        for signum in ENDING_SIGNALS[1:]
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@contextmanager
def uninterrupted() -> Iterator[None]:
    """Within: ending signals wait, so a second Ctrl-C cannot leave half a stack behind."""
    received: list[int] = []
    previous = {
        signum: signal.signal(signum, lambda number, frame: received.append(number))
        for signum in ENDING_SIGNALS
        if signal.getsignal(signum) is not signal.SIG_IGN
    }
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    if received:
        raise KeyboardInterrupt(f"signal {signal.Signals(received[0]).name}")
