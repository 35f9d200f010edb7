"""The swarm backend for real, on a one-node swarm this machine joins for the test (and leaves
as it was found): a nox sweep at 1 then 2 replicas, scaled without a redeploy, with both
replicas answering and Locust's workers as a service of the stack; a replica killed mid-run
fails that run and the next passes; a scale whose replicas Swarm cannot place says so rather
than wait; a grid tune rescales each configuration's stack from one scale to the next and deploys
the next configuration anew, as it does a stack a sweep kept with other settings; nothing is left
afterwards. And on an engine that is not in swarm mode, the backend
says what to run, exits 2 and starts nothing. (Two nodes: test_swarm_nodes.py.)"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from harness import REPO_ROOT
from tests.docker.sweeps import (
    NAMESPACE,
    SWEEP_TIMEOUT_S,
    Watcher,
    docker,
    harness_env,
    node_state,
    nothing_left,
    nox_sweep,
    stack_leftovers,
    sweep_in_background,
)
from tests.waiting import wait_until

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture
def swarm(built_images) -> Iterator[None]:
    """A one-node swarm for the test; left again afterwards if it was not one before."""
    joined = node_state() != "active"
    if joined:
        docker("swarm", "init", "--advertise-addr", "127.0.0.1")
    try:
        yield
    finally:
        if joined:
            docker("swarm", "leave", "--force")


def swarm_matrix(port: int, **fields) -> dict:
    matrix = {
        "num_models_list": [1, 2],
        "num_users_list": [4],
        "spawn_rate_list": [4],
        "run_time": "6s",
        "host": f"http://127.0.0.1:{port}",
        "backend": "swarm",
        "warmup_requests": 4,
        "ready_timeout_s": 240,
        "locust_workers": 2,
        "ceiling": False,
        "stack": {"compose_files": {"cpu": ["compose/docker-compose.yml"]}},
    }
    return {**matrix, **fields}


class ServiceWatcher(Watcher):
    """Notes every service id the stack's services have, and its Locust workers, while it runs."""

    def __init__(self) -> None:
        super().__init__(interval_s=0.5)
        self.ids: dict[str, set[str]] = {}

    def look(self) -> None:
        listing = docker(
            "service",
            "ls",
            "--filter",
            f"label={NAMESPACE}",
            "--format",
            "{{.ID}} {{.Name}}",
            check=False,
        )
        for line in listing.splitlines():
            service_id, name = line.split()
            self.ids.setdefault(name.split("_", 1)[1], set()).add(service_id)


def test_a_sweep_on_swarm_scales_without_redeploying_and_leaves_nothing(
    swarm, tmp_path: Path, free_port: int
) -> None:
    (tmp_path / "matrix.json").write_text(json.dumps(swarm_matrix(free_port)))
    started = time.monotonic()
    with ServiceWatcher() as watcher:
        sweep = nox_sweep(tmp_path)
    assert sweep.returncode == 0, sweep.stdout[-4000:] + sweep.stderr[-2000:]
    assert "stack up: kept from the last scale, 1 -> 2 replica(s)" in sweep.stdout
    # One service each, for both scales: scaled, never removed and deployed again.
    assert set(watcher.ids) == {"redis", "api", "model", "locust-worker"}
    assert all(len(ids) == 1 for ids in watcher.ids.values()), watcher.ids
    reports = tmp_path / "reports" / "cpu"
    for stem, replicas in (("1_4_4", 1), ("2_4_4", 2)):
        record = json.loads((reports / f"{stem}.meta.json").read_text())
        assert record["status"] == "ok" and record["valid"], record["invalid_reasons"]
        assert record["backend"] == "swarm" and record["locust_workers"] == 2
        jobs = record["stages"]["jobs_per_replica"]
        assert len(jobs) == replicas and all(count > 0 for count in jobs.values()), jobs
        members = {(m["service"], m["replica"]) for m in record["resources"]["members"]}
        assert {("locust-worker", "1"), ("locust-worker", "2")} <= members
        assert (reports / f"{stem}.html").is_file()
    assert nothing_left(), stack_leftovers()
    print(f"\nswarm sweep at 1 then 2 replicas: {time.monotonic() - started:.0f} s")


@pytest.mark.long
def test_a_grid_tune_rescales_each_configurations_stack_and_deploys_the_next_anew(
    swarm, tmp_path: Path, free_port: int
) -> None:
    # A sweep at 1 replica keeps its stack up for the next scale; the tune's first configuration
    # runs other settings, so that stack is deployed again, not rescaled.
    matrix = swarm_matrix(free_port, num_users_list=[2], spawn_rate_list=[2], run_time="4s")
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    sweep = nox_sweep(tmp_path, "sweep(models=1)")
    assert sweep.returncode == 0, sweep.stdout[-4000:] + sweep.stderr[-2000:]
    assert "stack kept up for the next scale (swarm)" in sweep.stdout
    tuned = {
        **matrix,
        "slo": {"p95_ms": 400, "max_failure_ratio": 0.01},
        "capacity": {"probe_time": "4s", "tolerance": 0.3},
        "tune": {"env": {"MAX_WAIT_MS": [0, 5]}},
    }
    (tmp_path / "matrix.json").write_text(json.dumps(tuned))
    with ServiceWatcher() as watcher:
        tune = nox_sweep(tmp_path, "tune")
    assert tune.returncode == 0, tune.stdout[-4000:] + tune.stderr[-2000:]
    said = tune.stdout
    assert said.count("stack kept from the last scale runs other settings: deployed again") == 1
    # One deployment per configuration, rescaled from 1 to 2 replicas: no other.
    assert said.count("stack up: swarm, target cpu, 1 replica(s)") == 2, said[-4000:]
    assert said.count("stack up: kept from the last scale, 1 -> 2 replica(s)") == 2, said[-4000:]
    assert "stack up: swarm, target cpu, 2 replica(s)" not in said
    assert all(len(ids) == 3 for name, ids in watcher.ids.items() if name != "locust-worker")
    configs = json.loads((tmp_path / "reports" / "cpu" / "tune.json").read_text())["configs"]
    tried = [(config["env"]["MAX_WAIT_MS"], config["models"]) for config in configs]
    assert tried == [("0", 1), ("0", 2), ("5", 1), ("5", 2)]
    assert all(config["status"] == "ok" and config["capacity_rps"] for config in configs), configs
    assert nothing_left(), stack_leftovers()


def test_a_replica_killed_mid_run_fails_that_run_and_the_next_passes(
    swarm, tmp_path: Path, free_port: int
) -> None:
    matrix = swarm_matrix(
        free_port, num_models_list=[2], num_users_list=[2], spawn_rate_list=[2, 1], run_time="8s"
    )
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    reports = tmp_path / "reports" / "cpu"
    sweep_command = (sys.executable, "-m", "invoke", "sweep", "--models", "2")
    with sweep_in_background(tmp_path, *sweep_command) as sweep:
        wait_until(lambda: list(reports.glob(".2_2_2.*/2_2_2.log")), 300, "the first run")
        wait_until(
            lambda: "All users spawned" in next(reports.glob(".2_2_2.*/2_2_2.log")).read_text(),
            60,
            "Locust to start",
        )
        replica = docker(
            "ps", "-q", "--filter", f"label={NAMESPACE}", "--filter", "name=_model.2."
        ).split()[0]
        docker("kill", replica)
        output, _ = sweep.communicate(timeout=SWEEP_TIMEOUT_S)
    assert sweep.returncode == 1, output
    failed = json.loads((reports / "2_2_2.meta.json").read_text())
    assert failed["status"] == "failed"
    assert "_model.2" in failed["failure_reason"] and "exit code 137" in failed["failure_reason"]
    assert "--- log of " in (reports / "2_2_2.log").read_text()
    following = json.loads((reports / "2_2_1.meta.json").read_text())
    assert following["status"] == "ok", following["failure_reason"]
    assert nothing_left(), stack_leftovers()


def test_a_scale_swarm_cannot_place_says_so_and_leaves_nothing(
    swarm, tmp_path: Path, free_port: int
) -> None:
    one_per_node = tmp_path / "one-replica-per-node.yml"
    one_per_node.write_text(
        yaml.safe_dump(
            {"services": {"model": {"deploy": {"placement": {"max_replicas_per_node": 1}}}}}
        )
    )
    compose_files = {"cpu": ["compose/docker-compose.yml", str(one_per_node)]}
    matrix = swarm_matrix(free_port, stack={"compose_files": compose_files})
    (tmp_path / "matrix.json").write_text(json.dumps(matrix))
    sweep = nox_sweep(tmp_path)
    assert sweep.returncode == 1, sweep.stdout[-4000:]
    assert "ok: " in sweep.stdout  # the first scale ran
    output = sweep.stdout + sweep.stderr
    said = re.search(r"stack: Swarm cannot place 1 of the 2 replicas of \S+_model: (.*)", output)
    assert said and "no suitable node" in said[1], output[-4000:]
    assert nothing_left(), stack_leftovers()


def test_the_swarm_backend_on_an_engine_not_in_swarm_mode_exits_2(
    built_images, tmp_path: Path, free_port: int
) -> None:
    if node_state() == "active":
        pytest.skip("this engine is a swarm node already (not ours to leave)")
    (tmp_path / "matrix.json").write_text(json.dumps(swarm_matrix(free_port)))
    result = subprocess.run(
        [sys.executable, "-m", "invoke", "sweep", "--models", "1"],
        cwd=REPO_ROOT,
        env=harness_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2
    assert "backend swarm: Docker is not in swarm mode" in result.stderr
    assert "run `docker swarm init --advertise-addr 127.0.0.1`" in result.stderr
    assert not (tmp_path / "stack").exists() and not (tmp_path / "reports").exists()
