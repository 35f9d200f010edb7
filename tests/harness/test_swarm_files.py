"""The compose files rendered for Docker Swarm: what Swarm ignores or refuses is handled, and
said. No engine needed: these are the files `docker stack deploy` receives."""

from pathlib import Path

import pytest

from harness.stack.base import StackError
from harness.stack.swarm_files import render

ENV = {
    "API_PORT": "18000",
    "REDIS_PORT": "6390",
    "EXPECTED_WORKERS": "2",
    "LOCUST_MASTER_PORT": "5557",
    "LOCUST_WORKERS": "3",
    "LOCUSTFILES": "locust/recorder.py,locust/locustfile.py",
}


def rendered(repo_root: Path, *overrides: str, registry: str = "") -> tuple[dict, list[str]]:
    compose = repo_root / "compose"
    files = [compose / "docker-compose.yml", *(compose / name for name in overrides)]
    notes: list[str] = []
    return render(files, ENV, "model", 2, registry, notes), notes


def test_the_base_stack_is_made_fit_for_swarm(repo_root: Path):
    stack, notes = rendered(repo_root, "docker-compose.swarm.yml")
    services = stack["services"]
    assert stack["version"] == "3.8"
    assert set(services) == {"redis", "api", "model", "locust-worker"}
    for name, service in services.items():
        assert "build" not in service and "depends_on" not in service, name
    assert services["api"]["ports"] == [
        {"target": 18000, "published": 18000, "protocol": "tcp", "mode": "host"}
    ]
    for name in ("redis", "api", "model"):
        assert services[name]["deploy"]["endpoint_mode"] == "dnsrr", name
    assert services["model"]["deploy"]["replicas"] == 2
    assert services["api"]["environment"]["EXPECTED_WORKERS"] == "2"
    assert "MODEL_WEIGHTS" not in services["model"]["environment"], "unset: left out"
    assert services["model"]["environment"]["REDIS_URL"] == "redis://redis:6390/0"
    assert any(note.startswith("build: ignored by Swarm") for note in notes)
    assert any("cannot bind 127.0.0.1" in note for note in notes)


def test_the_locust_workers_share_the_nodes_network(repo_root: Path):
    stack, _ = rendered(repo_root, "docker-compose.swarm.yml")
    worker = stack["services"]["locust-worker"]
    assert worker["networks"] == ["host"]
    assert "endpoint_mode" not in worker["deploy"]
    assert worker["deploy"]["replicas"] == 3
    assert worker["command"][worker["command"].index("--master-port") + 1] == "5557"
    assert stack["networks"] == {"host": {"name": "host", "external": True}}


def test_the_gpu_override_becomes_a_generic_resource(repo_root: Path):
    stack, notes = rendered(repo_root, "docker-compose.gpu.yml", "docker-compose.swarm.yml")
    model = stack["services"]["model"]
    reservations = model["deploy"]["resources"]["reservations"]
    assert "devices" not in reservations
    assert reservations["generic_resources"] == [
        {"discrete_resource_spec": {"kind": "NVIDIA-GPU", "value": 1}}
    ]
    assert model["image"] == "inference-loadbench-model:gpu"
    assert model["environment"]["DEVICE"] == "cuda"
    assert "model: GPU reservation as Swarm's generic resource NVIDIA-GPU" in notes


def test_a_registry_prefixes_every_image(repo_root: Path):
    stack, _ = rendered(repo_root, "docker-compose.swarm.yml", registry="registry.example:5000/")
    images = {name: service["image"] for name, service in stack["services"].items()}
    assert images["api"] == "registry.example:5000/inference-loadbench-api"
    assert images["redis"] == "registry.example:5000/redis:7-bookworm"


def test_the_host_network_override_is_refused(repo_root: Path):
    with pytest.raises(StackError, match="network_mode is not for Swarm"):
        rendered(repo_root, "docker-compose.hostnet.yml")


def test_an_unset_variable_is_named_with_its_file(repo_root: Path, tmp_path: Path):
    broken = tmp_path / "broken.yml"
    broken.write_text("services:\n  model:\n    image: ${NOWHERE}\n")
    with pytest.raises(StackError, match=r"broken.yml: uses \$\{NOWHERE\}, which is not set"):
        render([broken], {}, "model", 1, "", [])
