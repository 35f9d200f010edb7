"""CPU and memory of processes through psutil: a process tree (the local backend's services,
Locust, the harness itself), or the Docker engine's processes one by one.

The process table is read once per sample (`ProcessTable.refresh`) and every source finds its
processes in it: asking psutil for each tree's children read all of /proc once per tree, which
made the sampler most of the harness's own CPU."""

import os
from abc import ABC, abstractmethod
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import psutil

PROC = Path("/proc")
# The Docker engine's programs on a host, as the kernel names them (15 characters at most:
# containerd-shim-runc-v2 is "containerd-shim"). A shim's children are its container's
# processes, sampled from the container's cgroup, so each of these counts alone.
ENGINE_PROGRAMS = frozenset(("dockerd", "containerd", "containerd-shim", "docker-proxy"))


class ProcessTable:
    """This host's processes at the last refresh: each one's children, and its program's name."""

    def __init__(self) -> None:
        self._children: dict[int, list[int]] = {}
        self._names: dict[int, str] = {}

    def refresh(self) -> None:
        children: dict[int, list[int]] = defaultdict(list)
        names = {}
        for pid, parent, name in _every_process():
            children[parent].append(pid)
            names[pid] = name
        self._children, self._names = children, names

    def tree(self, root_pid: int) -> list[int]:
        """The process and all its descendants; none where it is gone."""
        if root_pid not in self._names:
            return []
        found, waiting = [], [root_pid]
        while waiting:
            pid = waiting.pop()
            found.append(pid)
            waiting.extend(self._children.get(pid, ()))
        return found

    def running(self, programs: frozenset[str]) -> list[int]:
        return [pid for pid, name in self._names.items() if name in programs]


class Processes(ABC):
    """Some processes of the table, their CPU summed between two samples. psutil measures a
    process's CPU since the same object's last reading, so each process keeps its object."""

    def __init__(self, table: ProcessTable) -> None:
        self.table = table
        self._known: dict[int, psutil.Process] = {}

    @abstractmethod
    def chosen(self) -> list[int]:
        """The processes sampled, as the table has them now."""

    def members(self) -> list[psutil.Process]:
        current = {}
        for pid in self.chosen():
            known = self._known.get(pid)
            if known is None:
                try:
                    known = psutil.Process(pid)
                except psutil.Error:
                    continue
            current[pid] = known
        self._known = current
        return list(current.values())

    def pids(self) -> set[int]:
        """The processes the last sample counted."""
        return set(self._known)

    def sample(self) -> tuple[float, float] | None:
        """(% of one core since the last sample, resident memory in MiB), None once gone."""
        cpu = rss = 0.0
        found = False
        for process in self.members():
            try:
                with process.oneshot():
                    cpu += process.cpu_percent(interval=None)
                    rss += process.memory_info().rss
                found = True
            except psutil.Error:
                continue
        return (cpu, rss / 2**20) if found else None


class ProcessTree(Processes):
    """A process and everything it started, but the processes `excluded` names (those another
    source samples)."""

    def __init__(
        self, table: ProcessTable, root_pid: int, excluded: Callable[[], set[int]] | None = None
    ) -> None:
        super().__init__(table)
        self.root_pid = root_pid
        self._excluded = excluded

    def chosen(self) -> list[int]:
        tree = self.table.tree(self.root_pid)
        if self._excluded is None:
            return tree
        others = self._excluded()
        return [pid for pid in tree if pid not in others]


class EngineProcesses(Processes):
    """The Docker engine's processes on this host, each alone (ENGINE_PROGRAMS): a container's
    shim and a published port's proxy come and go with them."""

    def chosen(self) -> list[int]:
        return self.table.running(ENGINE_PROGRAMS)


def _every_process() -> list[tuple[int, int, str]]:
    """(pid, parent's pid, program name) of every process: from each /proc/PID/stat, read once
    (psutil's own listing reads each process's files several times, four times the cost); through
    psutil where there is no /proc. The name is the kernel's, cut at 15 characters."""
    if not PROC.is_dir():
        listing = psutil.process_iter(["ppid", "name"])
        return [(process.pid, process.info["ppid"], process.info["name"]) for process in listing]
    found = []
    for entry in os.scandir(PROC):
        if not entry.name.isdigit():
            continue
        try:  # plain strings: pathlib's objects cost more than the read itself
            with open(f"{entry.path}/stat", "rb") as stat_file:
                stat = stat_file.read()
        except OSError:  # it exited meanwhile
            continue
        # `pid (name) state ppid ...`: the name may hold spaces and parentheses itself.
        head, tail = stat.rsplit(b")", 1)
        name = head.split(b"(", 1)[1].decode(errors="replace")
        found.append((int(entry.name), int(tail.split()[1]), name))
    return found


def machine_cpu_percent() -> float:
    """The whole machine's CPU since the last call, as % of one core (200% = two cores busy)."""
    return psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1)
