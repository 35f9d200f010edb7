"""The resources table of a run, S.resources.csv: its columns. One row per member per sample
(members and the other rows' names: harness/record/names.py); cpu_percent is % of one core
(200 = two cores busy), memory in MiB; a cell is empty where nothing was measured (no GPU on
this machine). The sampler writes it (sampler.py); `read_table` is its one reader."""

import csv
from pathlib import Path

COLUMNS = ("t_s", "service", "replica", "cpu_percent", "rss_mib", "gpu_util_percent", "gpu_mem_mib")


def read_table(path: Path) -> list[dict[str, str]]:
    """Every row, as written; none when the run sampled nothing."""
    try:
        with path.open(newline="") as handle:
            return list(csv.DictReader(handle))
    except FileNotFoundError:
        return []
