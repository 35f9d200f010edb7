"""The resources table of a run (S.resources.csv, written by the sampler) read back and summed
up over the measured window: peaks and means per member, the machine, the GPUs."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.telemetry.table import GPU, LOCUST, LOCUST_WORKER, MACHINE

# Locust at this share of the cores it can use measures itself, not the stack (README).
LOCUST_SATURATED = 0.90


@dataclass(frozen=True)
class MemberUse:
    service: str
    replica: str
    cpu_peak: float  # % of one core
    cpu_mean: float
    rss_peak_mib: float
    rss_mean_mib: float
    gpu_mem_peak_mib: float | None

    @property
    def label(self) -> str:
        return f"{self.service}-{self.replica}" if self.replica else self.service


@dataclass(frozen=True)
class GpuUse:
    index: str
    util_mean: float
    util_peak: float
    mem_peak_mib: float


@dataclass(frozen=True)
class ResourceUse:
    interval_s: float
    members: tuple[MemberUse, ...]  # the stack's, then Locust's
    machine_cpu_peak: float  # % of one core: 200 is two cores busy
    machine_cpu_mean: float
    cores: int
    gpus: tuple[GpuUse, ...]

    def of(self, service: str) -> list[MemberUse]:
        return [member for member in self.members if member.service == service]

    @property
    def locust(self) -> MemberUse | None:
        found = self.of(LOCUST)
        return found[0] if found else None

    def locust_busy(self, workers: int) -> float | None:
        """Locust's mean CPU as a share of what it can use: its busiest worker's share of a
        core where the workers are the stack's (swarm), else its processes' share of the
        cores they can use here."""
        in_stack = self.of(LOCUST_WORKER)
        if in_stack:
            return max(member.cpu_mean for member in in_stack) / 100
        locust = self.locust
        if locust is None:
            return None
        return locust.cpu_mean / (100 * max(1, min(workers, self.cores)))


def summarize(
    table: Path, start_s: float, end_s: float, interval_s: float, cores: int
) -> ResourceUse | None:
    """Peaks and means over the samples taken in [start_s, end_s] (the table's t_s); None when
    no sample fell there."""
    rows = _rows(table, start_s, end_s)
    if not rows:
        return None
    grouped: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        grouped[(row["service"], row["replica"])].append(row)
    members, gpus = [], []
    machine_cpu = [0.0]
    for (service, replica), samples in grouped.items():
        if service == MACHINE:
            machine_cpu = _numbers(samples, "cpu_percent")
        elif service == GPU:
            util, memory = _numbers(samples, "gpu_util_percent"), _numbers(samples, "gpu_mem_mib")
            gpus.append(GpuUse(replica, _mean(util), max(util), max(memory)))
        else:
            cpu, rss = _numbers(samples, "cpu_percent"), _numbers(samples, "rss_mib")
            gpu_memory = _numbers(samples, "gpu_mem_mib")
            members.append(
                MemberUse(
                    service,
                    replica,
                    max(cpu),
                    _mean(cpu),
                    max(rss),
                    _mean(rss),
                    max(gpu_memory) if gpu_memory else None,
                )
            )
    members.sort(
        key=lambda member: (member.service == LOCUST, member.service, _order(member.replica))
    )
    return ResourceUse(
        interval_s=interval_s,
        members=tuple(members),
        machine_cpu_peak=max(machine_cpu),
        machine_cpu_mean=_mean(machine_cpu),
        cores=cores,
        gpus=tuple(gpus),
    )


def _rows(table: Path, start_s: float, end_s: float) -> list[dict]:
    try:
        with table.open(newline="") as handle:
            return [row for row in csv.DictReader(handle) if start_s <= float(row["t_s"]) <= end_s]
    except FileNotFoundError:
        return []


def _numbers(samples: list[dict], column: str) -> list[float]:
    return [float(sample[column]) for sample in samples if sample[column] != ""]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _order(replica: str) -> tuple[int, str]:
    return (int(replica), "") if replica.isdigit() else (0, replica)
