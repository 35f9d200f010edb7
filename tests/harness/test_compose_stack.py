"""The compose backend's commands, and how `auto` picks a backend. The compose sweep itself runs
in tests/docker, where a Docker engine can be had."""

import os
from pathlib import Path

from harness.compose_stack import ComposeStack
from harness.stack import choose_backend


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
    again = ComposeStack.from_state(stack.state())
    assert again.compose_args("down") == stack.compose_args("down")


def test_auto_is_local_where_no_docker_answers(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no docker program at all
    assert choose_backend("auto") == "local"
    assert "backend auto -> local (no Docker engine answers)" in capsys.readouterr().out
    assert os.environ["PATH"] == str(tmp_path)
    assert choose_backend("compose") == "compose"
