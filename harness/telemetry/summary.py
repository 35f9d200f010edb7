"""The resources table of a run (S.resources.csv, written by the sampler) summed up over the
measured window: peaks and means per member, per swarm node, the machine, the GPUs."""

from collections import defaultdict
from pathlib import Path

from harness.record.names import GPU, LOCUST, MACHINE
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
        key=lambda member: (member.service == LOCUST, member.service, _order(member.replica))
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
    )


def _numbers(samples: list[dict], column: str) -> list[float]:
    return [float(sample[column]) for sample in samples if sample[column] != ""]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _order(replica: str) -> tuple[int, str]:
    return (int(replica), "") if replica.isdigit() else (0, replica)
