"""The resources table of a run (S.resources.csv, written by the sampler) summed up over the
measured window: peaks and means per member, per swarm node, the machine, the GPUs, and the
machine's CPU that no member used."""

from collections import defaultdict
from pathlib import Path

from harness.record.names import GPU, MACHINE, NOT_THE_STACK
from harness.record.parts import GpuUse, MemberUse, NodeUse, ResourceUse
from harness.telemetry.table import node_cpu, read_table


def summarize(
    table: Path, start_s: float, end_s: float, interval_s: float, cores: int
) -> ResourceUse | None:
    """Peaks and means over the samples taken in [start_s, end_s] (the table's t_s); None when
    no sample fell there."""
    rows = [row for row in read_table(table) if start_s <= float(row["t_s"]) <= end_s]
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
                    node=samples[0]["node"],
                )
            )
    members.sort(
        key=lambda member: (
            member.service in NOT_THE_STACK,
            member.service,
            _order(member.replica),
        )
    )
    return ResourceUse(
        interval_s=interval_s,
        members=tuple(members),
        machine_cpu_peak=max(machine_cpu),
        machine_cpu_mean=_mean(machine_cpu),
        cores=cores,
        gpus=tuple(gpus),
        nodes=tuple(
            NodeUse(node, max(sums.values()), _mean(list(sums.values())))
            for node, sums in node_cpu(rows).items()
        ),
        unaccounted_cpu_mean=_unaccounted(rows),
    )


def _unaccounted(rows: list[dict]) -> float | None:
    """The machine's CPU less every member's (the stack's, Locust's, the harness's, the Docker
    engine's), sample by sample, then its mean: what ran that the record does not name (the
    kernel's network path, programs started and gone between samples, anything else the machine
    runs). None where members run on other nodes, whose CPU is not this machine's."""
    if any(row["node"] for row in rows):
        return None
    machine: dict[str, float] = {}
    members: dict[str, float] = defaultdict(float)
    for row in rows:
        if row["cpu_percent"] == "":
            continue
        if row["service"] == MACHINE:
            machine[row["t_s"]] = float(row["cpu_percent"])
        elif row["service"] != GPU:
            members[row["t_s"]] += float(row["cpu_percent"])
    if not machine:
        return None
    return _mean([max(0.0, cpu - members[t_s]) for t_s, cpu in machine.items()])


def _numbers(samples: list[dict], column: str) -> list[float]:
    return [float(sample[column]) for sample in samples if sample[column] != ""]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _order(replica: str) -> tuple[int, str]:
    return (int(replica), "") if replica.isdigit() else (0, replica)
