"""CPU and memory of a container, from its cgroup (v2 or v1, either cgroup driver)."""

import time
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _candidates(container_id: str) -> list[tuple[Path, Path]]:
    """(CPU folder, memory folder) where Docker puts a container's cgroup."""
    scope = f"docker-{container_id}.scope"
    v2 = [CGROUP_ROOT / "system.slice" / scope, CGROUP_ROOT / "docker" / container_id]
    v1 = [
        (
            CGROUP_ROOT / "cpuacct" / "system.slice" / scope,
            CGROUP_ROOT / "memory" / "system.slice" / scope,
        ),
        (
            CGROUP_ROOT / "cpuacct" / "docker" / container_id,
            CGROUP_ROOT / "memory" / "docker" / container_id,
        ),
    ]
    return [(path, path) for path in v2] + v1


class ContainerCgroup:
    def __init__(self, container_id: str) -> None:
        self.container_id = container_id
        self.cpu_dir, self.memory_dir = next(
            ((cpu, memory) for cpu, memory in _candidates(container_id) if cpu.is_dir()),
            (None, None),
        )
        self._last: tuple[float, float] | None = None

    @property
    def found(self) -> bool:
        return self.cpu_dir is not None

    def pids(self) -> set[int]:
        if self.memory_dir is None:
            return set()
        try:
            return {int(pid) for pid in (self.memory_dir / "cgroup.procs").read_text().split()}
        except OSError:
            return set()

    def _cpu_seconds(self) -> float:
        usage = self.cpu_dir / "cpuacct.usage"
        if usage.is_file():
            return int(usage.read_text()) / 1e9
        stat = dict(line.split() for line in (self.cpu_dir / "cpu.stat").read_text().splitlines())
        return int(stat["usage_usec"]) / 1e6

    def _rss_bytes(self) -> float:
        stat = dict(
            line.split() for line in (self.memory_dir / "memory.stat").read_text().splitlines()
        )
        # v1 names it rss (total_rss with children); v2 counts anonymous memory as anon.
        for key in ("total_rss", "rss", "anon"):
            if key in stat:
                return int(stat[key])
        return 0

    def sample(self) -> tuple[float, float] | None:
        """(% of one core since the last sample, resident memory in MiB), None once gone."""
        if not self.found:
            return None
        try:
            now, used = time.monotonic(), self._cpu_seconds()
            rss = self._rss_bytes()
        except (OSError, KeyError, ValueError):
            return None
        previous, self._last = self._last, (now, used)
        cpu = 0.0 if previous is None else 100 * (used - previous[1]) / max(now - previous[0], 1e-6)
        return cpu, rss / 2**20
