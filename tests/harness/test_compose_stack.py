"""The compose backend's commands, and the registry that picks a backend by name. The compose
sweep itself runs in tests/docker, where a Docker engine can be had."""

import json
from pathlib import Path

import pytest

from harness.stack import BACKENDS, UnknownBackend, resolve_backend
from harness.stack.compose import ComposeStack
from harness.stack.registry import backend_class


def test_compose_command_names_project_files_and_scale() -> None:
    stack = ComposeStack(
        "gpu",
        3,
        {"API_PORT": "8123"},
        ["docker", "compose"],
        "loadbench-gpu-m3-42",
        ["/repo/compose/docker-compose.yml", "/repo/compose/docker-compose.gpu.yml"],
        "model",
    )
    assert stack.compose_args("up", "-d", "--scale", "model=3") == [
        "docker",
        "compose",
        "-p",
        "loadbench-gpu-m3-42",
        "-f",
        "/repo/compose/docker-compose.yml",
        "-f",
        "/repo/compose/docker-compose.gpu.yml",
        "up",
        "-d",
        "--scale",
        "model=3",
    ]
    again = backend_class(stack.state()["backend"]).from_state(stack.state())
    assert isinstance(again, ComposeStack)
    assert again.compose_args("down") == stack.compose_args("down")


@pytest.mark.parametrize("name", sorted(BACKENDS))
def test_each_backend_is_found_by_its_own_name_and_finds_its_stack_again(name: str) -> None:
    found = backend_class(name)
    assert found.backend == name
    assert not getattr(found, "__abstractmethods__", None), "it implements the whole interface"


@pytest.mark.parametrize("name", ["k8s", "Local", ""])
def test_an_unknown_backend_is_refused_naming_the_allowed_ones(name: str) -> None:
    with pytest.raises(UnknownBackend) as raised:
        resolve_backend(name)
    assert str(raised.value) == f"{name!r} is not a backend; allowed: auto, compose, local, swarm"


def test_auto_is_local_where_no_docker_answers(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker program at all
    assert resolve_backend("auto") == "local"
    assert "backend auto -> local (no Docker engine answers)" in capsys.readouterr().out


def test_the_matrix_schema_allows_exactly_the_registered_backends(repo_root: Path) -> None:
    schema = json.loads((repo_root / "matrix.schema.json").read_text())
    assert schema["properties"]["backend"]["enum"] == ["auto", *BACKENDS]
