"""CPU and memory of processes through psutil: a process tree (the local backend's services,
Locust, the harness itself), or the Docker engine's processes one by one."""

from collections.abc import Callable

import psutil

# The Docker engine's programs on a host: a shim's children are its container's processes,
# sampled from the container's cgroup, so each of these counts alone.
ENGINE_PROGRAMS = frozenset(
    ("dockerd", "containerd", "containerd-shim", "containerd-shim-runc-v2", "docker-proxy")
)


class ProcessTree:
    """A process and everything it started, but the processes `excluded` names (those another
    source samples); CPU is summed over the tree between two samples."""

    def __init__(self, root_pid: int, excluded: Callable[[], set[int]] | None = None) -> None:
        self.root_pid = root_pid
        self._excluded = excluded
        self._known: dict[int, psutil.Process] = {}

    def members(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        if self._excluded is not None:
            others = self._excluded()
            tree = [process for process in tree if process.pid not in others]
        # Keep each process's object: cpu_percent() measures since the same object's last call.
        current = {process.pid: self._known.get(process.pid, process) for process in tree}
        self._known = current
        return list(current.values())

    def pids(self) -> set[int]:
        return {process.pid for process in self.members()}

    def sampled_pids(self) -> set[int]:
        """The processes the last sample counted, without looking again."""
        return set(self._known)

    def sample(self) -> tuple[float, float] | None:
        """(% of one core since the last sample, resident memory in MiB), None once gone."""
        return _summed(self.members())


class EngineProcesses:
    """The Docker engine's processes on this host, each alone (ENGINE_PROGRAMS), found again at
    every sample: a container's shim and a published port's proxy come and go with them."""

    def members(self) -> list[psutil.Process]:
        # process_iter keeps each process's object between calls, as cpu_percent needs.
        return [
            process
            for process in psutil.process_iter(["name"])
            if process.info["name"] in ENGINE_PROGRAMS
        ]

    def pids(self) -> set[int]:
        return {process.pid for process in self.members()}

    def sample(self) -> tuple[float, float] | None:
        """(% of one core since the last sample, resident memory in MiB), None with no engine."""
        return _summed(self.members())


def _summed(processes: list[psutil.Process]) -> tuple[float, float] | None:
    cpu = rss = 0.0
    found = False
    for process in processes:
        try:
            with process.oneshot():
                cpu += process.cpu_percent(interval=None)
                rss += process.memory_info().rss
            found = True
        except psutil.Error:
            continue
    return (cpu, rss / 2**20) if found else None


def machine_cpu_percent() -> float:
    """The whole machine's CPU since the last call, as % of one core (200% = two cores busy)."""
    return psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1)
