"""A thread that samples, every interval while Locust runs, the CPU and memory of each member
of the stack (a container on a named swarm node through its node's engine: engine_stats.py),
of Locust, of the harness itself (this process and the programs it starts, Locust and the
stack's processes excepted), of the Docker engine where containers run here, the machine and
the GPUs, and writes each sample to the run's
resources table as it goes (harness/telemetry/table.py: this module is its writer); the stack's
metrics are read beside it (metrics.py), on a thread of their own.

Start and stop are symmetric whatever fails between them: stopping a sampler that never started,
or whose thread died, is safe, and a sample that fails is skipped, not fatal.
"""

import csv
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from harness.record.names import ENGINE, GPU, HARNESS, LOCUST, MACHINE
from harness.telemetry.containers import ContainerCgroup
from harness.telemetry.engine_stats import EngineContainer, EngineStats
from harness.telemetry.gpu import Gpus
from harness.telemetry.members import Member
from harness.telemetry.processes import (
    EngineProcesses,
    ProcessTable,
    ProcessTree,
    machine_cpu_percent,
)
from harness.telemetry.table import COLUMNS


@dataclass
class LastSeen:
    """A member's last figures, for the failure reason when it dies mid-run."""

    rss_mib: float
    gpu_mem_mib: float | None


@dataclass
class Sampled:
    started_at: float  # seconds since the epoch, t_s = 0 in the table
    last_seen: dict[str, LastSeen] = field(default_factory=dict)  # by member label


class Sampler:
    def __init__(
        self, members: list[Member], locust_pid: int, interval_s: float, table: Path
    ) -> None:
        # One stream per node's engine, for every container sampled through it.
        self._engines = {
            member.docker_host: EngineStats(member.docker_host)
            for member in members
            if member.docker_host is not None and member.container_id is not None
        }
        self._processes = ProcessTable()
        self._sources = [
            (member, _source(member, self._engines, self._processes)) for member in members
        ]
        self._sources.append((Member(LOCUST, ""), ProcessTree(self._processes, locust_pid)))
        if any(member.container_id and member.docker_host is None for member in members):
            self._sources.append((Member(ENGINE, ""), EngineProcesses(self._processes)))
        # Last, so that it leaves out what the other trees counted in the same sample.
        trees = [source for _member, source in self._sources if isinstance(source, ProcessTree)]
        harness = ProcessTree(
            self._processes,
            os.getpid(),
            excluded=lambda: set().union(*(tree.pids() for tree in trees)),
        )
        self._sources.append((Member(HARNESS, ""), harness))
        self._interval_s = interval_s
        self._table = table
        self._gpus: Gpus | None = None
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)
        self.sampled = Sampled(started_at=time.time())

    def start(self) -> None:
        self._gpus = Gpus()
        for engine in self._engines.values():
            engine.start()
        # CPU figures are differences between two readings: take the first before t = 0.
        self._processes.refresh()
        for _member, source in self._sources:
            if source is not None:
                source.sample()
        self._thread.start()

    def stop(self) -> Sampled:
        self._stopped.set()
        if self._thread.is_alive():
            self._thread.join()
        if self._gpus is not None:
            self._gpus.close()
        for engine in self._engines.values():
            engine.stop()
        return self.sampled

    def _run(self) -> None:
        machine_cpu_percent()  # psutil keeps the machine's last reading per thread: this one's
        with self._table.open("w", newline="") as table:
            writer = csv.writer(table)
            writer.writerow(COLUMNS)
            failed = False
            while not self._stopped.wait(self._interval_s):
                try:
                    writer.writerows(self._sample())
                    table.flush()
                except (OSError, psutil.Error) as error:  # one lost sample, said once
                    if not failed:
                        print(f"telemetry: a sample failed: {error}", file=sys.stderr)
                    failed = True

    def _sample(self) -> list[list]:
        t_s = round(time.time() - self.sampled.started_at, 3)
        devices, gpu_by_pid = self._gpus.sample()
        self._processes.refresh()
        rows = []
        for member, source in self._sources:
            figures = source.sample() if source is not None else None
            if figures is None:
                continue
            cpu, rss = figures
            gpu_mem = (
                sum(gpu_by_pid.get(pid, 0.0) for pid in source.pids())
                if self._gpus.available
                else None
            )
            self.sampled.last_seen[member.label] = LastSeen(rss, gpu_mem)
            rows.append(
                [
                    t_s,
                    member.service,
                    member.replica,
                    _f(cpu),
                    _f(rss),
                    "",
                    _f(gpu_mem),
                    member.node,
                ]
            )
        memory = psutil.virtual_memory()
        used_mib = (memory.total - memory.available) / 2**20
        rows.append([t_s, MACHINE, "", _f(machine_cpu_percent()), _f(used_mib), "", "", ""])
        for device in devices:
            rows.append(
                [t_s, GPU, device.index, "", "", _f(device.util_percent), _f(device.memory_mib), ""]
            )
        return rows


def _source(
    member: Member, engines: dict[str, EngineStats], table: ProcessTable
) -> ProcessTree | ContainerCgroup | EngineContainer | None:
    if member.pid is not None:
        return ProcessTree(table, member.pid)
    if member.container_id is not None and member.docker_host is not None:
        return EngineContainer(engines[member.docker_host], member.container_id)
    if member.container_id is not None:
        cgroup = ContainerCgroup(member.container_id)
        return cgroup if cgroup.found else None
    return None


def _f(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"
