"""Reading the stack's metrics while a run lasts, on a thread of its own: a stack that answers
slowly, not at all, or with something else than Prometheus text delays nothing else and stops
nothing; the first reason there are no stage figures is kept, to be said once.

Every reading is bounded: SCRAPE_TIMEOUT_S for the whole answer, MAX_BYTES of it.
"""

import csv
import threading
import time
from dataclasses import dataclass, field

import requests

from harness.matrix import StackSettings
from harness.telemetry.stages import NotMetrics, Snapshot, missing_reason, parse

SCRAPE_TIMEOUT_S = 2.0
MAX_BYTES = 16 * 2**20


class NoAnswer(Exception):
    """The stack did not answer in time, or not with a 2xx; the message says what happened."""


def bounded_get(url: str, timeout_s: float = SCRAPE_TIMEOUT_S, max_bytes: int = MAX_BYTES) -> str:
    """The body of a 2xx answer, read within `timeout_s` in all; NoAnswer otherwise."""
    deadline = time.monotonic() + timeout_s
    try:
        with requests.get(url, timeout=timeout_s, stream=True) as answer:
            if not 200 <= answer.status_code < 300:
                raise NoAnswer(f"HTTP {answer.status_code}")
            body = bytearray()
            for chunk in answer.iter_content(chunk_size=65536):
                body += chunk
                if len(body) > max_bytes:
                    raise NoAnswer(f"an answer over {max_bytes // 2**20} MiB")
                if time.monotonic() > deadline:
                    raise NoAnswer(f"no whole answer within {timeout_s:g} s")
            return body.decode(answer.encoding or "utf-8", errors="replace")
    except requests.RequestException as error:
        raise NoAnswer(f"no answer within {timeout_s:g} s ({type(error).__name__})") from None


@dataclass
class Readings:
    """The readings of one run, with when each was taken (seconds since the epoch)."""

    snapshots: list[tuple[float, Snapshot]] = field(default_factory=list)
    missing: str | None = None  # the first reason a reading gave no stages


class MetricsReader:
    """Reads the stack's metrics every interval until stopped, then once more."""

    def __init__(self, stack: StackSettings, interval_s: float) -> None:
        self._stack = stack
        self._url = stack.metrics_url
        self._interval_s = interval_s
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="metrics", daemon=True)
        self.readings = Readings()
        if self._url is None:
            self.readings.missing = "the stack exports no metrics (stack.metrics_path is null)"

    def start(self) -> None:
        if self._url is not None:
            self._thread.start()

    def stop(self) -> Readings:
        """Stop reading; one last reading, after the run, closes the window."""
        if self._thread.is_alive():
            self._stopped.set()
            self._thread.join(timeout=SCRAPE_TIMEOUT_S + 1)
        if self._url is not None:
            self.read()
        return self.readings

    def _run(self) -> None:
        self.read()
        while not self._stopped.wait(self._interval_s):
            self.read()

    def read(self) -> None:
        try:
            snapshot = parse(bounded_get(self._url), self._stack)
        except (NoAnswer, NotMetrics) as reason:
            self._missing(f"{self._url}: {reason}")
            return
        self.readings.snapshots.append((time.time(), snapshot))
        reason = missing_reason(snapshot, self._stack)
        if reason is not None:
            self._missing(f"{self._url}: {reason}")

    def _missing(self, reason: str) -> None:
        if self.readings.missing is None:
            self.readings.missing = reason


STACK_COLUMNS = ("t_s", "queue_depth", "busy_replicas")


def write_stack_table(path, readings: Readings, window_start: float) -> bool:
    """The stack's queue depth and busy replicas (those whose jobs grew since the reading
    before) at each reading, seconds from the window's start; False when it exports neither."""
    snapshots = readings.snapshots
    if not any(s.queue_depth is not None or s.jobs for _, s in snapshots):
        return False
    rows = []
    for (_, before), (taken, after) in zip(snapshots, snapshots[1:], strict=False):
        busy = sum(count > before.jobs.get(replica, 0.0) for replica, count in after.jobs.items())
        depth = "" if after.queue_depth is None else f"{after.queue_depth:g}"
        rows.append([f"{taken - window_start:.3f}", depth, busy if after.jobs else ""])
    with path.open("w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(STACK_COLUMNS)
        writer.writerows(rows)
    return True


def read_stack_table(path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as table:
            return list(csv.DictReader(table))
    except FileNotFoundError:
        return []
