"""A wrong matrix gives one message naming the key and what is allowed, exit code 2, and
nothing starts."""

import json
import os
import stat
import sys
from pathlib import Path

import pytest

from harness.matrix import MatrixError, Slo, load_matrix, parse_run_time


def valid_matrix(**changes: object) -> dict:
    matrix = {
        "num_models_list": [1, 2],
        "num_users_list": [1, 4],
        "spawn_rate_list": [1, 0.5],
        "run_time": "20s",
        "host": "http://127.0.0.1:8000",
    }
    matrix.update(changes)
    return matrix


def load(tmp_path: Path, data: object) -> object:
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(data))
    return load_matrix(path)


@pytest.mark.parametrize("example", ["litserve", "torchserve", "load"])
def test_every_example_matrix_is_valid(repo_root: Path, example: str) -> None:
    matrix = load_matrix(repo_root / "examples" / example / "matrix.json")
    assert matrix.points(matrix.targets[0], matrix.models_list[0])


def test_the_repository_matrix_is_valid(repo_root: Path) -> None:
    matrix = load_matrix(repo_root / "matrix.json")
    assert matrix.targets[0] == "cpu"
    points = matrix.points("cpu", 2)
    # Every users x spawn-rate pair once, users outermost, as the matrix lists them.
    assert [(point.load.users, point.load.spawn_rate) for point in points] == [
        (1, 1),
        (1, 4),
        (4, 1),
        (4, 4),
        (8, 1),
        (8, 4),
    ]


def test_defaults_come_from_the_schema(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("API_PORT", raising=False)
    matrix = load(tmp_path, valid_matrix())
    assert matrix.host == "http://127.0.0.1:8000"
    assert matrix.backend == "auto"
    assert matrix.targets == ("cpu",)
    assert matrix.slo == Slo(p95_ms=500, max_failure_ratio=0.01)
    assert matrix.stack.scale_service == "model"
    assert matrix.stack.ready_replicas_field == "workers"
    assert matrix.stack.swarm.nodes == ()  # the local engine only
    assert len(matrix.points("cpu", 1)) == 4


@pytest.mark.parametrize(
    ("changes", "key_and_problem", "allowed"),
    [
        ({"num_workers": 3}, "num_workers: unknown key", "num_models_list, num_users_list"),
        ({"num_users_list": "4"}, 'num_users_list: "4" is not of type array', "type array"),
        ({"num_models_list": []}, "num_models_list: empty list", "at least one value"),
        ({"num_users_list": [1, 0]}, "num_users_list[1]: 0 is out of range", "numbers >= 1"),
        ({"spawn_rate_list": [-1]}, "spawn_rate_list[0]: -1 is out of range", "numbers > 0"),
        ({"run_time": "5 minutes"}, 'run_time: "5 minutes" is not valid', "e.g. 20, 30s, 5m"),
        ({"run_time": "0s"}, "run_time: '0s' is zero", "a positive time span"),
        ({"targets": ["tpu"]}, 'targets[0]: "tpu" is not allowed', "cpu, gpu"),
        ({"backend": "k8s"}, 'backend: "k8s" is not allowed', "auto, compose, local"),
        ({"slo": {"p95": 100}}, "slo.p95: unknown key", "p95_ms, max_failure_ratio"),
        (
            {"stack": {"env": {"model_name": "x"}}},
            "stack.env.model_name: not a variable name",
            "UPPER",
        ),
        ({"locustfile": "nowhere.py"}, "locustfile: ", "a file in the repository"),
        ({"host": "127.0.0.1:8000"}, 'host: "127.0.0.1:8000" is not valid', "http://127.0.0.1"),
        (
            {"stack": {"swarm": {"nodes": [{"name": "two", "docker_host": "http://10.0.0.2"}]}}},
            'stack.swarm.nodes[0].docker_host: "http://10.0.0.2" is not valid',
            "e.g. unix:///var/run/docker.sock, tcp://10.0.0.2:2376, ssh://admin@10.0.0.2",
        ),
        (
            {"stack": {"swarm": {"nodes": [{"name": "two"}]}}},
            "stack.swarm.nodes[0].docker_host: missing",
            "The node's engine endpoint",
        ),
        (
            {
                "stack": {
                    "swarm": {
                        "nodes": [
                            {"name": "two", "docker_host": "unix:///run/a.sock"},
                            {"name": "two", "docker_host": "unix:///run/b.sock"},
                        ]
                    }
                }
            },
            "stack.swarm.nodes[1].name: 'two' is repeated",
            "each name once",
        ),
    ],
)
def test_a_wrong_matrix_is_named_by_key(
    tmp_path: Path, changes: dict, key_and_problem: str, allowed: str
) -> None:
    with pytest.raises(MatrixError) as raised:
        load(tmp_path, valid_matrix(**changes))
    message = str(raised.value)
    assert message.startswith(f"matrix.json: {key_and_problem}")
    assert allowed in message.split("; allowed: ", 1)[1]


def test_api_port_in_the_environment_moves_the_api(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("API_PORT", "9123")
    assert load(tmp_path, valid_matrix()).host == "http://127.0.0.1:9123"
    monkeypatch.setenv("API_PORT", "99999")
    with pytest.raises(MatrixError, match=r"^matrix\.json: host: API_PORT='99999' is not a port"):
        load(tmp_path, valid_matrix())


def test_a_missing_key_is_named(tmp_path: Path) -> None:
    data = valid_matrix()
    del data["host"]
    with pytest.raises(MatrixError, match=r"^matrix\.json: host: missing; allowed: Base URL"):
        load(tmp_path, data)


def test_not_json_is_named_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "matrix.json"
    path.write_text('{"num_models_list": [1,\n}')
    with pytest.raises(MatrixError, match=r"^matrix\.json: \(file\): not JSON: .* line 2"):
        load_matrix(path)


@pytest.mark.parametrize(
    ("text", "seconds"), [("20", 20), ("30s", 30), ("5m", 300), ("1h30m", 5400), ("1m5s", 65)]
)
def test_run_time_reads_as_locust_reads_it(text: str, seconds: int) -> None:
    assert parse_run_time(text) == seconds


@pytest.mark.parametrize("text", ["", "5 m", "1.5m", "m", "5x", "s5"])
def test_run_time_locust_would_reject_is_rejected(text: str) -> None:
    with pytest.raises(ValueError):
        parse_run_time(text)


def test_cli_exits_2_with_the_message_and_starts_nothing(workspace) -> None:
    workspace.write_matrix(**valid_matrix(num_users_list=[0]))
    result = workspace.run("inv", "sweep", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: num_users_list[0]: 0 is out of range; allowed: numbers >= 1" in (
        result.stdout
    )
    assert not workspace.stack_dir.exists()
    assert not workspace.reports.exists()


def test_nox_exits_2_on_a_wrong_matrix(workspace) -> None:
    workspace.write_matrix(**valid_matrix(spawn_rate_list=[]))
    result = workspace.run("nox", "-l", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: spawn_rate_list: empty list" in result.stdout


def fake_nvidia_smi(folder: Path, output: str, exit_code: int) -> None:
    # The one mock here: a GPU cannot be had on every machine that runs the tests, so the
    # GPU check meets a stand-in nvidia-smi that reports none.
    folder.mkdir()
    script = folder / "nvidia-smi"
    script.write_text(f"#!/bin/sh\necho '{output}'\nexit {exit_code}\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)


@pytest.mark.parametrize(
    ("output", "exit_code"),
    [("No devices were found", 6), ("NVIDIA-SMI has failed to communicate with the driver", 9)],
)
def test_gpu_target_without_a_gpu_exits_2(workspace, output: str, exit_code: int) -> None:
    fake_nvidia_smi(workspace.root / "bin", output, exit_code)
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    workspace.write_matrix(**valid_matrix(targets=["cpu", "gpu"]))
    result = workspace.run("inv", "sweep", "--target", "gpu", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: targets: 'gpu' asked for but `nvidia-smi -L` shows no GPU" in (
        result.stdout
    )
    assert not workspace.stack_dir.exists()


def test_gpu_target_through_nox_exits_2_before_any_session(workspace) -> None:
    fake_nvidia_smi(workspace.root / "bin", "No devices were found", 6)
    workspace.env["PATH"] = f"{workspace.root / 'bin'}{os.pathsep}{workspace.env['PATH']}"
    workspace.write_matrix(**valid_matrix(targets=["cpu", "gpu"]))
    result = workspace.run("nox", "-s", "sweep(models=1)", "--", "--target", "gpu", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: targets: 'gpu' asked for but `nvidia-smi -L` shows no GPU" in (
        result.stdout
    )
    assert not workspace.stack_dir.exists()


def test_gpu_target_without_nvidia_smi_exits_2(workspace) -> None:
    # Only the virtualenv's programs: no nvidia-smi, even on a machine that has one.
    workspace.env["PATH"] = str(Path(sys.executable).parent)
    workspace.write_matrix(**valid_matrix(targets=["gpu"]))
    result = workspace.run("inv", "sweep", timeout=60)
    assert result.returncode == 2
    assert "shows no GPU" in result.stdout


def test_target_not_in_the_matrix_exits_2(workspace) -> None:
    workspace.write_matrix(**valid_matrix(targets=["cpu"]))
    result = workspace.run("inv", "up", "--target", "gpu", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: targets: 'gpu' is not listed; allowed: cpu" in result.stdout
