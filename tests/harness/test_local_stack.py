"""The local backend: Procfile lines, and `inv up` / `inv run` / `inv down` on real processes."""

import json
import socket
from pathlib import Path

import pytest
from sweep_workspace import process_alive, stack_pids

from harness.stack import StackError
from harness.stack.local import parse_procfile, substitute
from harness.stack.network import free_port
from tests.standin.process import start_server


def test_procfile_lines_in_order_comments_skipped(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("# the queue\nredis: redis-server --port ${REDIS_PORT}\n\nmodel: worker\n")
    assert parse_procfile(procfile) == [
        ("redis", "redis-server --port ${REDIS_PORT}"),
        ("model", "worker"),
    ]


def test_procfile_line_without_a_name_is_refused(tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("redis-server --port 1\n")
    with pytest.raises(StackError, match=r"Procfile:1: expected `name: command`"):
        parse_procfile(procfile)


def test_variables_are_substituted_then_split() -> None:
    env = {"API_PORT": "8123", "ARGS": "a b"}
    assert substitute('run --port ${API_PORT} --save "" ${MISSING:-x}', env) == [
        "run",
        "--port",
        "8123",
        "--save",
        "",
        "x",
    ]
    with pytest.raises(StackError, match=r"uses \$\{NOPE\}, which is not set"):
        substitute("run ${NOPE}", env)


def test_free_ports_lie_under_the_range_outgoing_connections_take_theirs_from() -> None:
    # A port from that range may be taken by a connection's own end before its server binds it.
    low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    ports = [free_port() for _ in range(50)]
    assert all(port < low for port in ports), ports
    assert len(set(ports)) == len(ports), "never the same port twice in one process"
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.bind(("127.0.0.1", ports[-1]))


@pytest.mark.slow
def test_up_run_down(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    up = workspace.run("inv", "up", "--models", "2")
    assert up.returncode == 0, up.stdout
    state = workspace.state()
    pids = stack_pids(state)
    try:
        assert [p["name"] for p in state["processes"]] == ["redis", "api", "model-1", "model-2"]
        assert all(process_alive(pid) for pid in pids)
        again = workspace.run("inv", "up", "--models", "1", timeout=60)
        assert again.returncode == 1 and "a stack is already up" in again.stdout

        run = workspace.run("inv", "run", "--users", "2", "--spawn-rate", "0.5", "--run-time", "2s")
        assert run.returncode == 0, run.stdout
        meta = json.loads((workspace.reports / "cpu" / "2_2_0.5.meta.json").read_text())
        assert meta["status"] == "ok" and meta["ramp_s"] == 2 and meta["run_time"] == "2s"
        assert meta["backend"] == "local" and meta["spawn_rate_label"] == "0.5"
        # The statistics cover the run time after the ramp (2 s), not the ramp's 2 s too. Their
        # last request is the last one answered: a stall of the busy 2-core machine near the end
        # leaves it up to half a second short of the run time (1.48 s once).
        stats = json.loads((workspace.reports / "cpu" / "2_2_0.5.json").read_text())[0]
        measured_s = stats["last_request_timestamp"] - stats["start_time"]
        assert 1.0 <= measured_s <= 3.0, measured_s
        assert (workspace.reports / "index.html").is_file()
    finally:
        down = workspace.run("inv", "down")
    assert down.returncode == 0, down.stdout
    assert workspace.state() is None
    assert not any(process_alive(pid) for pid in pids)


@pytest.mark.slow
def test_down_stops_the_workers_while_redis_still_answers_them(workspace, local_matrix) -> None:
    # Stopped all at once, Redis went first: each worker lost its connection mid-read, slept a
    # second, and could not leave the queue's books (`could not tidy up in redis`).
    workspace.write_matrix(**local_matrix)
    up = workspace.run("inv", "up", "--models", "2")
    assert up.returncode == 0, up.stdout
    workers = [p for p in workspace.state()["processes"] if p["name"].startswith("model-")]
    down = workspace.run("inv", "down")
    assert down.returncode == 0, down.stdout
    for worker in workers:
        log = Path(worker["log"]).read_text()
        assert f"worker {worker['name']} stopped" in log, log
        assert "redis unavailable" not in log and "could not tidy up" not in log, log


def test_run_without_a_stack_exits_2(workspace, local_matrix) -> None:
    workspace.write_matrix(**local_matrix)
    result = workspace.run("inv", "run", timeout=60)
    assert result.returncode == 2
    assert "no stack is up: run `inv up --models N` first" in result.stdout


def broken_stack_matrix(workspace, local_matrix, model_line: str, timeout_s: float) -> None:
    procfile = workspace.root / "Procfile"
    real = (workspace.repo_root / "services" / "Procfile").read_text().splitlines()
    lines = [line for line in real if not line.startswith("model:")] + [f"model: {model_line}"]
    procfile.write_text("\n".join(lines) + "\n")
    workspace.write_matrix(
        **{**local_matrix, "ready_timeout_s": timeout_s, "stack": {"procfile": str(procfile)}}
    )


def test_a_worker_that_dies_at_start_fails_up_with_its_log(workspace, local_matrix) -> None:
    command = "python -c \"import sys; print('cannot load the model'); sys.exit(3)\""
    broken_stack_matrix(workspace, local_matrix, command, timeout_s=60)
    result = workspace.run("inv", "up", timeout=120)
    assert result.returncode == 1
    assert "the stack lost a process while starting" in result.stdout
    assert "model-1 exited (exit code 3)" in result.stdout
    assert "cannot load the model" in result.stdout
    assert workspace.state() is None


def test_readiness_timeout_shows_the_stack_logs_and_stops_it(workspace, local_matrix) -> None:
    broken_stack_matrix(workspace, local_matrix, "sleep 60", timeout_s=3)
    result = workspace.run("inv", "up", timeout=120)
    assert result.returncode == 1
    assert "did not report workers >= 1 within 3s (ready_timeout_s)" in result.stdout
    assert "--- stack logs ---" in result.stdout and "--- api (" in result.stdout
    assert workspace.state() is None


def test_up_refuses_a_port_something_else_listens_on(workspace, local_matrix) -> None:
    port = int(local_matrix["host"].rsplit(":", 1)[1])
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", port))
        squatter.listen()
        workspace.write_matrix(**local_matrix)
        result = workspace.run("inv", "up", timeout=60)
    assert result.returncode == 1
    assert f"port {port} of host http://127.0.0.1:{port} is already in use" in result.stdout
    assert workspace.state() is None


def test_a_server_already_running_is_swept_as_it_is(workspace, local_matrix) -> None:
    # Your own server, started by you: a Procfile that starts nothing, no replica count to
    # wait for. Its port is in use, as it should be, and the sweep measures it.
    port = int(local_matrix["host"].rsplit(":", 1)[1])
    server = start_server(port, 5)
    try:
        procfile = workspace.root / "Procfile"
        procfile.write_text("# my server runs already, on its own\n")
        stack = {"procfile": str(procfile), "scale_service": None, "ready_replicas_field": None}
        workspace.write_matrix(
            **{**local_matrix, "num_models_list": [1], "ceiling": False, "min_requests": 10},
            stack=stack,
        )
        result = workspace.run("inv", "sweep", "--models", "1", timeout=120)
        assert server.poll() is None, "the harness leaves your server alone"
    finally:
        server.kill()
        server.wait()
    assert result.returncode == 0, result.stdout
    run = json.loads((workspace.reports / "cpu" / "1_4_2.meta.json").read_text())
    assert run["valid"] and run["latency"]["failures"] == 0, run["invalid_reasons"]
