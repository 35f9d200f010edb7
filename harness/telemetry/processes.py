"""CPU and memory of a process tree (the local backend's services, Locust), through psutil."""

import psutil


class ProcessTree:
    """A process and everything it started; CPU is summed over the tree between two samples."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self._known: dict[int, psutil.Process] = {}

    def members(self) -> list[psutil.Process]:
        try:
            root = psutil.Process(self.root_pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        # Keep each process's object: cpu_percent() measures since the same object's last call.
        current = {process.pid: self._known.get(process.pid, process) for process in tree}
        self._known = current
        return list(current.values())

    def pids(self) -> set[int]:
        return {process.pid for process in self.members()}

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


def machine_cpu_percent() -> float:
    """The whole machine's CPU since the last call, as % of one core (200% = two cores busy)."""
    return psutil.cpu_percent(interval=None) * (psutil.cpu_count() or 1)
