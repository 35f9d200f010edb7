"""The resources table read back: a table from before the node column reads as node "", each
swarm node's CPU is the sum of its containers', sample by sample, and the machine's CPU that no
member used is the machine's less every member's, sample by sample."""

from pathlib import Path

import pytest

from harness.analysis.instrument import cpu_account
from harness.record.parts import NodeUse
from harness.telemetry.summary import summarize
from harness.telemetry.table import COLUMNS, read_table

# As the sampler wrote it before the node column.
OLDER_TABLE = """t_s,service,replica,cpu_percent,rss_mib,gpu_util_percent,gpu_mem_mib
1.0,model,1,90.0,300.0,,
1.0,machine,,150.0,3000.0,,
2.0,model,1,80.0,310.0,,
2.0,machine,,140.0,3000.0,,
"""


def test_a_table_from_before_the_node_column_reads_as_node_empty(tmp_path: Path) -> None:
    table = tmp_path / "1_4_4.resources.csv"
    table.write_text(OLDER_TABLE)
    assert {row["node"] for row in read_table(table)} == {""}
    resources = summarize(table, 0.0, 10.0, 1.0, 2)
    assert [(member.label, member.node) for member in resources.members] == [("model-1", "")]
    assert resources.members[0].cpu_mean == 85.0
    assert resources.nodes == ()


def test_each_nodes_cpu_is_its_containers_summed_sample_by_sample(tmp_path: Path) -> None:
    rows = [
        # t_s, service, replica, cpu, rss, gpu util, gpu memory, node
        ("1.0", "model", "1", "90.0", "300.0", "", "", "manager"),
        ("1.0", "api", "", "10.0", "60.0", "", "", "manager"),
        ("1.0", "model", "2", "40.0", "300.0", "", "", "node-2"),
        ("1.0", "locust", "", "5.0", "50.0", "", "", ""),  # the harness's own: on no node
        ("1.0", "machine", "", "150.0", "3000.0", "", "", ""),
        ("2.0", "model", "1", "50.0", "300.0", "", "", "manager"),
        ("2.0", "api", "", "30.0", "60.0", "", "", "manager"),
        ("2.0", "model", "2", "0.0", "300.0", "", "", "node-2"),
        ("2.0", "machine", "", "100.0", "3000.0", "", "", ""),
    ]
    table = tmp_path / "2_4_4.resources.csv"
    table.write_text("\n".join(",".join(row) for row in [COLUMNS, *rows]) + "\n")
    resources = summarize(table, 0.0, 10.0, 1.0, 2)
    # manager: 100 then 80; node-2: 40 then 0. The peak is of the sums, not a sum of peaks.
    assert resources.nodes == (NodeUse("manager", 100.0, 90.0), NodeUse("node-2", 40.0, 20.0))
    assert {member.label: member.node for member in resources.members} == {
        "api": "manager",
        "model-1": "manager",
        "model-2": "node-2",
        "locust": "",
    }
    assert [member.label for member in resources.on("manager")] == ["api", "model-1"]


def write_rows(table: Path, rows: list[tuple[str, ...]]) -> Path:
    table.write_text("\n".join(",".join(row) for row in [COLUMNS, *rows]) + "\n")
    return table


def test_what_no_member_used_is_the_machine_less_every_member_sample_by_sample(
    tmp_path: Path,
) -> None:
    rows = [
        ("1.0", "model", "1", "90.0", "300.0", "", "", ""),
        ("1.0", "api", "", "20.0", "60.0", "", "", ""),
        ("1.0", "locust", "", "10.0", "50.0", "", "", ""),
        ("1.0", "harness", "", "2.0", "80.0", "", "", ""),
        ("1.0", "docker-engine", "", "5.0", "90.0", "", "", ""),
        ("1.0", "machine", "", "140.0", "3000.0", "", "", ""),
        ("1.0", "gpu", "0", "", "", "50.0", "900.0", ""),
        # The model's sample is missing here (it was between two readings): not a negative.
        ("2.0", "api", "", "20.0", "60.0", "", "", ""),
        ("2.0", "locust", "", "10.0", "50.0", "", "", ""),
        ("2.0", "harness", "", "4.0", "80.0", "", "", ""),
        ("2.0", "machine", "", "30.0", "3000.0", "", "", ""),
    ]
    resources = summarize(write_rows(tmp_path / "1_4_4.resources.csv", rows), 0, 10, 1.0, 2)
    assert resources.unaccounted_cpu_mean == pytest.approx((13.0 + 0.0) / 2)
    assert [member.service for member in resources.members] == [
        "api",
        "model",
        "docker-engine",
        "harness",
        "locust",
    ], "the stack first, then what is not the stack"
    account = cpu_account(resources)
    assert (account.stack, account.locust, account.harness, account.engine) == (
        110.0,
        10.0,
        3.0,
        5.0,
    )
    assert account.instrument_share == pytest.approx(13.0 / 200)
    assert account.unaccounted_share == pytest.approx(6.5 / 200)
    assert account.rows()[-1] == ("idle", 200 - 85.0)


def test_no_unaccounted_share_where_members_run_on_other_nodes(tmp_path: Path) -> None:
    rows = [
        ("1.0", "model", "1", "90.0", "300.0", "", "", "node-2"),
        ("1.0", "machine", "", "140.0", "3000.0", "", "", ""),
    ]
    resources = summarize(write_rows(tmp_path / "1_4_4.resources.csv", rows), 0, 10, 1.0, 2)
    assert resources.unaccounted_cpu_mean is None
    assert cpu_account(resources) is None
