"""No answer of a stack crashes the harness: sweeps against a stand-in server that misbehaves on
purpose (tests/standin/server.py) end on time, with what happened in their records, no traceback,
and nothing left running."""

import json
import time

import pytest
from sweep_workspace import process_alive

pytestmark = pytest.mark.slow

STANDIN = "model: python -m tests.standin.server --port ${API_PORT} --service-ms 5"


def sweep(workspace, local_matrix, server_options: str, **fields) -> tuple[str, float]:
    procfile = workspace.root / "Procfile"
    procfile.write_text(f"{STANDIN} {server_options}\n")
    workspace.write_matrix(
        **{
            **local_matrix,
            "num_models_list": [1],
            "num_users_list": [1, 2],
            "spawn_rate_list": [2],
            "run_time": "3s",
            "ceiling": False,
            "min_requests": 10,
            "stack": {"procfile": str(procfile)},
            **fields,
        }
    )
    began = time.monotonic()
    result = workspace.run("inv", "sweep", "--models", "1", timeout=240)
    seconds = time.monotonic() - began
    assert result.returncode == 0, result.stdout
    assert "Traceback" not in result.stdout, result.stdout
    return result.stdout, seconds


def record(workspace, stem: str) -> dict:
    return json.loads((workspace.reports / "cpu" / f"{stem}.meta.json").read_text())


def nothing_left(workspace, pids: list[int]) -> None:
    assert workspace.state() is None, "the stack's state is removed"
    assert not any(process_alive(pid) for pid in pids), "no process of the stack outlives it"


def stack_pids(workspace) -> list[int]:
    return [process["pid"] for process in (workspace.state() or {}).get("processes", [])]


@pytest.mark.parametrize(
    ("answer", "said"),
    [
        ("json", "not Prometheus text"),
        ("html", "not Prometheus text"),
        ("bytes", "not Prometheus text"),
        ("plain", "none of the mapped stage metrics (request_stage_seconds) in its answer"),
        ("hang", "no answer within 2 s"),
        ("none", "HTTP 404"),
    ],
)
def test_whatever_metrics_answer_the_runs_go_on_without_stages(
    workspace, local_matrix, answer, said
):
    output, seconds = sweep(workspace, local_matrix, f"--metrics {answer}")
    for stem in ("1_1_2", "1_2_2"):
        run = record(workspace, stem)
        assert run["status"] == "ok" and run["valid"], run
        assert run["stages"] is None
        assert said in run["stages_missing"], run["stages_missing"]
        assert run["latency"]["requests"] > 0
    # Two runs of 3 s, the stack's start and Locust's: a silent /metrics delays nothing much.
    assert seconds < 90, seconds
    page = (workspace.reports / "index.html").read_text()
    assert page.count("Stage metrics not available:") == 1, "said once, for every run"
    assert said in page
    assert workspace.state() is None


def test_a_stack_that_exports_nothing_is_said_so_once(workspace, local_matrix):
    sweep(workspace, local_matrix, "--metrics hang", stack={"metrics_path": None})
    run = record(workspace, "1_2_2")
    assert run["stages_missing"] == "the stack exports no metrics (stack.metrics_path is null)"
    page = (workspace.reports / "index.html").read_text()
    assert page.count("Stage metrics not available:") == 1


def test_failed_answers_are_counted_by_kind(workspace, local_matrix):
    # 40% of answers fail: 12 warm-up requests make one that succeeds all but certain (0.4^12).
    sweep(workspace, local_matrix, "--faults 500:0.2,reset:0.1,notjson:0.1", warmup_requests=12)
    latency = record(workspace, "1_2_2")["latency"]
    kinds = latency["failure_kinds"]
    assert set(kinds) == {"HTTP 500", "not JSON"} | {k for k in kinds if k.startswith("no answer")}
    assert any(kind.startswith("no answer (") for kind in kinds), kinds
    assert sum(kinds.values()) == latency["failures"]
    share = latency["failures"] / latency["requests"]
    assert share == pytest.approx(0.4, abs=0.12), latency
    assert kinds["HTTP 500"] / latency["requests"] == pytest.approx(0.2, abs=0.08)


def test_a_ready_url_that_flaps_stops_nothing(workspace, local_matrix):
    sweep(workspace, local_matrix, "--ready-flap-every-s 2")
    for stem in ("1_1_2", "1_2_2"):
        assert record(workspace, stem)["status"] == "ok"


def test_a_sweep_leaves_no_process_behind_whatever_the_stack_did(workspace, local_matrix):
    procfile = workspace.root / "Procfile"
    procfile.write_text(f"{STANDIN} --metrics hang --faults reset:0.3\n")
    workspace.write_matrix(
        **{
            **local_matrix,
            "num_models_list": [1],
            "num_users_list": [2],
            "spawn_rate_list": [2],
            "run_time": "3s",
            "ceiling": False,
            "stack": {"procfile": str(procfile)},
        }
    )
    process = workspace.spawn("inv", "sweep", "--models", "1")
    try:
        deadline = time.monotonic() + 60
        while not stack_pids(workspace) and time.monotonic() < deadline:
            time.sleep(0.1)
        pids = stack_pids(workspace)
        assert pids, "the stack came up"
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, output
    assert "Traceback" not in output
    nothing_left(workspace, pids)
