"""The swarm backend on a real swarm of two nodes on this machine (tests/docker/second_node.py):
this machine's engine as the manager, a second engine in a network namespace as a worker.

A nox sweep at 1, 2 and 4 replicas spreads the replicas over both nodes, with Redis and the API
on the manager and a Locust worker on each node; each node's replicas answer jobs, by the
stack's jobs per replica joined with the node Swarm gives each task; the record names every
replica's node and carries each node's CPU, sampled through that node's engine. The second
engine stopped mid-run fails that run with the node and the replicas lost, and the next scale
runs with the replicas Swarm placed again on the manager. Nothing is left afterwards, and the
two-node swarm is undone, whatever happens in between.

Every request stays on this machine: the harness and the Locust workers reach the API at the
host's end of the test's own veth pair (a worker on the second node cannot reach the manager at
127.0.0.1), which is a local address here.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.docker.second_node import (
    TwoNodes,
    load_images,
    network_names,
    node_id,
    two_node_swarm,
)
from tests.docker.sweeps import (
    NAMESPACE,
    SWEEP_TIMEOUT_S,
    Watcher,
    docker,
    node_state,
    nothing_left,
    nox_sweep,
    stack_leftovers,
    sweep_in_background,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow, pytest.mark.long]

MANAGER, SECOND = "manager", "node-2"
# What runs on the second node: model replicas and a Locust worker (Redis and the API stay on
# the manager).
SECOND_NODE_IMAGES = ["inference-loadbench-model", "inference-loadbench-locust"]


def require_a_swarm_of_our_own() -> None:
    """Root, to make a network namespace and a second dockerd (skipped without, failed where
    REQUIRE_DOCKER=1, as tests/docker/conftest.py does); and an engine in no swarm yet."""
    if os.geteuid() != 0:
        reason = "a second node needs a network namespace and a second dockerd: root only"
        if os.environ.get("REQUIRE_DOCKER") == "1":
            pytest.fail(f"{reason}, and REQUIRE_DOCKER=1")
        pytest.skip(reason)
    if node_state() != "inactive":
        pytest.skip("this engine is in a swarm already (not ours to change)")


@pytest.fixture(scope="session")
def second_node_root(docker_engine: Path) -> Iterator[Path]:
    """The second engine's files for the session: its images are loaded once. A short path,
    as its sockets live under it."""
    root = Path(tempfile.mkdtemp(prefix="loadbench-node2-"))
    try:
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def two_nodes(built_images, second_node_root: Path) -> Iterator[TwoNodes]:
    require_a_swarm_of_our_own()
    with two_node_swarm(second_node_root) as nodes:
        load_images(SECOND_NODE_IMAGES, nodes.second.docker_host)
        yield nodes


def two_node_matrix(nodes: TwoNodes, port: int, **fields) -> dict:
    manager = nodes.namespace.host_address
    matrix = {
        "num_models_list": [1, 2, 4],
        "num_users_list": [4],
        "spawn_rate_list": [4],
        "run_time": "6s",
        "host": f"http://{manager}:{port}",
        "backend": "swarm",
        "warmup_requests": 4,
        # These runs show where the work went, not what the stack can take: a busy machine
        # (both nodes share its two cores) still gives a valid run.
        "min_requests": 20,
        "ready_timeout_s": 240,
        "locust_workers": 2,
        "ceiling": False,
        "stack": {
            "compose_files": {
                "cpu": ["compose/docker-compose.yml", "compose/docker-compose.swarm-nodes.yml"]
            },
            "swarm": {
                "locust_master_host": manager,
                # Any node: Swarm spreads the two workers, one on each.
                "locust_placement": "node.platform.os==linux",
                "nodes": [
                    {
                        "name": MANAGER,
                        "docker_host": os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock"),
                    },
                    {"name": SECOND, "docker_host": nodes.second.docker_host},
                ],
            },
        },
    }
    return {**matrix, **fields}


class TaskPlacement(Watcher):
    """Notes, while a sweep runs, each model task's container, its slot and the node Swarm
    gave it."""

    def __init__(self) -> None:
        super().__init__(interval_s=1.0)
        self.tasks: dict[str, tuple[str, str]] = {}  # container id: (node id, slot)

    def look(self) -> None:
        # Unchecked: the stack may be removed between two of these calls.
        services = docker(
            "service",
            "ls",
            "--filter",
            f"label={NAMESPACE}",
            "--format",
            "{{.Name}}",
            check=False,
        ).split()
        model = [service for service in services if service.endswith("_model")]
        tasks = (
            docker("service", "ps", "-q", "--no-trunc", *model, check=False).split()
            if model
            else []
        )
        if not tasks:
            return
        placed = docker(
            "inspect",
            "--format",
            "{{.Status.ContainerStatus.ContainerID}} {{.NodeID}} {{.Slot}}",
            *tasks,
            check=False,
        )
        for line in placed.splitlines():
            container, node, slot = (line.split() + ["", "", ""])[:3]
            if container and node:
                self.tasks[container] = (node, slot)

    def node_of_worker(self, worker: str, names: dict[str, str]) -> str:
        """The node of the replica whose worker id this is: the id starts with its
        container's hostname, which Docker makes the container's short id."""
        hostname = worker.split("-")[0]
        found = [node for container, (node, _) in self.tasks.items() if container[:12] == hostname]
        assert len(found) == 1, f"worker {worker}: containers {found} of {self.tasks}"
        return names[found[0]]

    def on(self, node: str) -> list[str]:
        return sorted(slot for node_id, slot in self.tasks.values() if node_id == node)


def test_a_sweep_on_two_nodes_spreads_the_replicas_and_samples_each_node(
    two_nodes: TwoNodes, tmp_path: Path, free_port: int
) -> None:
    (tmp_path / "matrix.json").write_text(json.dumps(two_node_matrix(two_nodes, free_port)))
    names = {node_id(): MANAGER, node_id(two_nodes.second.docker_host): SECOND}
    started = time.monotonic()
    with TaskPlacement() as placement:
        sweep = nox_sweep(tmp_path)
    took = time.monotonic() - started
    assert sweep.returncode == 0, sweep.stdout[-4000:] + sweep.stderr[-2000:]
    reports = tmp_path / "reports" / "cpu"
    for stem, replicas in (("1_4_4", 1), ("2_4_4", 2), ("4_4_4", 4)):
        record = json.loads((reports / f"{stem}.meta.json").read_text())
        assert record["status"] == "ok" and record["valid"], record["invalid_reasons"]
        jobs = record["stages"]["jobs_per_replica"]
        assert len(jobs) == replicas and all(count > 0 for count in jobs.values()), jobs
        # Which node answered: the stack's worker ids joined with Swarm's placement.
        answered = sorted(placement.node_of_worker(worker, names) for worker in jobs)
        if replicas > 1:
            assert set(answered) == {MANAGER, SECOND}, (stem, answered)
        members = record["resources"]["members"]
        model_nodes = sorted(member["node"] for member in members if member["service"] == "model")
        assert model_nodes == answered, (stem, members)
        front = {member["node"] for member in members if member["service"] in ("api", "redis")}
        assert front == {MANAGER}, members
        locust = {member["node"] for member in members if member["service"] == "locust-worker"}
        assert locust == {MANAGER, SECOND}, members
        nodes = {node["name"]: node for node in record["resources"]["nodes"]}
        assert set(nodes) == {MANAGER, SECOND}
        assert all(
            node["cpu_mean"] > 0 and node["cpu_peak"] >= node["cpu_mean"] for node in nodes.values()
        )
        if SECOND in answered:  # its replicas' CPU is in its own, measured through its engine
            there = [m for m in members if m["service"] == "model" and m["node"] == SECOND]
            assert all(member["cpu_mean"] > 0 for member in there), there
            assert nodes[SECOND]["cpu_mean"] >= 0.9 * sum(member["cpu_mean"] for member in there)
    index = (tmp_path / "reports" / "index.html").read_text()
    assert f"node {SECOND} CPU %" in index and f"node {MANAGER} CPU %" in index
    assert "replicas there" in (reports / "4_4_4.telemetry.html").read_text()
    assert nothing_left(), stack_leftovers()
    assert nothing_left(two_nodes.second.docker_host), stack_leftovers(two_nodes.second.docker_host)
    print(f"\ntwo-node sweep at 1, 2 and 4 replicas: {took:.0f} s")


def test_a_node_lost_mid_run_fails_that_run_and_the_next_scale_runs_on_the_other(
    two_nodes: TwoNodes, tmp_path: Path, free_port: int
) -> None:
    # Long enough for the swarm to find the node down within the run: its heartbeats are
    # missed 12 to 15 s after the engine stops (here), and stopping it takes some seconds.
    matrix = two_node_matrix(two_nodes, free_port, num_models_list=[2, 4], run_time="40s")
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    second_id = node_id(two_nodes.second.docker_host)
    reports = tmp_path / "reports" / "cpu"
    sweep_command = (sys.executable, "-m", "nox", "-s", "sweep")
    with TaskPlacement() as placement, sweep_in_background(tmp_path, *sweep_command) as sweep:
        wait_until(lambda: list(reports.glob(".2_4_4.*/2_4_4.log")), 300, "the first run")
        wait_until(
            lambda: "All users spawned" in next(reports.glob(".2_4_4.*/2_4_4.log")).read_text(),
            60,
            "Locust to start",
        )
        lost = placement.on(second_id)
        assert lost, placement.tasks  # the spread put a replica there
        two_nodes.second.stop()  # by its pid: dockerd stops its containers, then itself
        output, _ = sweep.communicate(timeout=SWEEP_TIMEOUT_S)
    assert sweep.returncode == 1, output[-4000:]
    failed = json.loads((reports / "2_4_4.meta.json").read_text())
    assert failed["status"] == "failed"
    reason = failed["failure_reason"]
    for slot in lost:  # from the swarm's own node and task states
        assert f"_model.{slot} was lost with node {SECOND} (down" in reason, reason
    following = json.loads((reports / "4_4_4.meta.json").read_text())
    assert following["status"] == "ok", following["failure_reason"]
    model_nodes = {m["node"] for m in following["resources"]["members"] if m["service"] == "model"}
    assert model_nodes == {MANAGER}  # Swarm placed them all again where it could
    assert [node["name"] for node in following["resources"]["nodes"]] == [MANAGER]
    assert f"swarm: node {SECOND} is not sampled" in output
    assert nothing_left(), stack_leftovers()
    assert two_nodes.second.processes() == []  # its dockerd, containerd and shims are gone


def test_the_two_node_swarm_is_undone_even_when_interrupted(
    second_node_root: Path, built_images
) -> None:
    require_a_swarm_of_our_own()
    before = network_names()
    with pytest.raises(KeyboardInterrupt):
        with two_node_swarm(second_node_root) as nodes:
            assert docker("node", "ls", "--format", "{{.Status}}").split() == ["Ready", "Ready"]
            raise KeyboardInterrupt  # as Ctrl-C would, mid-test
    assert node_state() == "inactive"
    assert network_names() == before
    assert not nodes.namespace.exists() and not nodes.namespace.host_end_exists()
    assert nodes.second.processes() == []
    assert nodes.second.mounts() == []
