"""The resources table read back: a table from before the node column reads as node "", and
each swarm node's CPU is the sum of its containers', sample by sample."""

from pathlib import Path

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
