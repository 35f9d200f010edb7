"""The resources table of a run, S.resources.csv: its columns. One row per member per sample
(members and the other rows' names: harness/record/names.py); cpu_percent is % of one core
(200 = two cores busy), memory in MiB; a cell is empty where nothing was measured (no GPU on
this machine); `node` is the swarm node a container ran on, where the matrix names the nodes.
The sampler writes it (sampler.py); `read_table` is its one reader, `node_cpu` sums its rows
node by node."""

import csv
from collections import defaultdict
from pathlib import Path

COLUMNS = (
    "t_s",
    "service",
    "replica",
    "cpu_percent",
    "rss_mib",
    "gpu_util_percent",
    "gpu_mem_mib",
    "node",
)


def read_table(path: Path) -> list[dict[str, str]]:
    """Every row, as written; none when the run sampled nothing. A table written before the
    node column reads as node ""."""
    try:
        with path.open(newline="") as handle:
            return [{**row, "node": row.get("node") or ""} for row in csv.DictReader(handle)]
    except FileNotFoundError:
        return []


def node_cpu(rows: list[dict[str, str]]) -> dict[str, dict[float, float]]:
    """Each named node's CPU, sample by sample (by t_s): the sum of its containers' rows."""
    sums: dict[str, dict[float, float]] = defaultdict(lambda: defaultdict(float))
    for row in rows:
        if row["node"] and row["cpu_percent"]:
            sums[row["node"]][float(row["t_s"])] += float(row["cpu_percent"])
    return {node: dict(by_time) for node, by_time in sums.items()}
