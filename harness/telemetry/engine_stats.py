"""CPU and memory of the containers on a swarm node, as that node's Docker engine reports them:
on another host, a container's cgroup cannot be read from here.

One `docker stats` stream per engine (`docker -H <docker_host>`: a unix socket, tcp:// or
ssh://, as Docker's own client reaches it) for the sampler's life; a sample reads each
container's last report. The engine reports each container about once a second: CPU as % of one
core over the last second, as the cgroup reader counts it; memory as `docker stats` counts it
(in use, less the inactive page cache), which is more than the resident memory the cgroup
reader takes. A container the stream has not reported for STALE_S, or whose engine is gone, has
no figures: it is not sampled, as a process that exited.
"""

import json
import re
import subprocess
import threading
import time
from typing import IO

STALE_S = 5.0
STOP_GRACE_S = 5.0
# `docker stats` redraws its table with terminal escapes around each report: each report is
# one JSON object with flat string fields.
REPORT = re.compile(r"\{[^{}]*\}")
SIZE = re.compile(r"^\s*([0-9.]+)\s*([A-Za-z]*)\s*$")
BYTES_PER_UNIT = {
    "B": 1,
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "kB": 1e3,
    "KB": 1e3,
    "MB": 1e6,
    "GB": 1e9,
    "TB": 1e12,
}
SHORT_ID = 12  # how `docker stats` names a container


class EngineStats:
    """The stream of one engine's container reports, and the last report of each."""

    def __init__(self, docker_host: str) -> None:
        self.docker_host = docker_host
        self._last: dict[str, tuple[float, float, float]] = {}  # short id: (when, CPU %, MiB)
        self._lock = threading.Lock()
        self._process: subprocess.Popen[str] | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._process = subprocess.Popen(
            ["docker", "-H", self.docker_host, "stats", "--format", "{{json .}}"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self._thread = threading.Thread(
            target=self._read,
            args=(self._process.stdout,),
            name=f"docker stats {self.docker_host}",
            daemon=True,
        )
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            for text in REPORT.findall(line):
                figures = _figures(text)
                if figures is None:
                    continue
                short_id, cpu, memory = figures
                with self._lock:
                    self._last[short_id] = (time.monotonic(), cpu, memory)

    def latest(self, container_id: str) -> tuple[float, float] | None:
        """(% of one core, memory in MiB) of the container's last report, if recent."""
        with self._lock:
            found = self._last.get(container_id[:SHORT_ID])
        if found is None or time.monotonic() - found[0] > STALE_S:
            return None
        return found[1], found[2]

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._thread is not None:
            self._thread.join(timeout=STOP_GRACE_S)


class EngineContainer:
    """One container as its engine reports it: a source the sampler reads like a cgroup."""

    def __init__(self, stats: EngineStats, container_id: str) -> None:
        self.stats = stats
        self.container_id = container_id

    def sample(self) -> tuple[float, float] | None:
        """(% of one core over the engine's last second, memory in MiB), None once gone."""
        return self.stats.latest(self.container_id)

    def pids(self) -> set[int]:
        """None here: its processes are on its node (no GPU memory per process from afar)."""
        return set()


def _figures(text: str) -> tuple[str, float, float] | None:
    """A report's container, CPU % and memory in MiB; None for a container with no figures
    (`--`: stopping)."""
    try:
        report = json.loads(text)
        cpu = float(report["CPUPerc"].rstrip("%"))
        size = SIZE.match(report["MemUsage"].split("/")[0])
        if size is None or size[2] not in BYTES_PER_UNIT:
            return None
        memory = float(size[1]) * BYTES_PER_UNIT[size[2]] / 2**20
        return str(report["ID"])[:SHORT_ID], cpu, memory
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
