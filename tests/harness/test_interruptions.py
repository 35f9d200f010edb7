"""A sweep interrupted by Ctrl-C takes its stack down and leaves no run that looks complete; one
started with nohup outlives the hang-up; a worker killed mid-run fails that run, and the next run
goes on."""

import json
import os
import signal
import subprocess

import pytest
from sweep_workspace import VENV_BIN, OutputReader, process_alive, stack_pids, stop_group

from tests.waiting import wait_until


@pytest.mark.slow
def test_ctrl_c_mid_run_takes_the_stack_down(workspace, local_matrix) -> None:
    workspace.write_matrix(**{**local_matrix, "run_time": "60s"})
    # Ctrl-C in a terminal signals the whole foreground process group: nox and the sweep.
    sweep = workspace.spawn("nox", "-s", "sweep(models=2)")
    output = OutputReader(sweep)
    try:
        # Counted over the whole sweep: the 4 runs at 1 replica come first.
        wait_until(lambda: "[run 5/8]" in output.text, 120, "the first run to start")
        # Redis, the API and two workers, once the stack has recorded them all.
        wait_until(lambda: "stack ready" in output.text, 120, "the stack to be ready")
        pids = stack_pids(workspace.state())
        assert len(pids) == 4
        wait_until(lambda: list((workspace.reports / "cpu").glob(".*")), 30, "Locust to start")
        os.killpg(sweep.pid, signal.SIGINT)
        sweep.wait(timeout=90)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    output.thread.join(timeout=10)
    assert sweep.returncode != 0
    assert "stack down" in output.text
    assert workspace.state() is None
    assert not any(process_alive(pid) for pid in pids)
    run_files = sorted(path.name for path in (workspace.reports / "cpu").iterdir())
    assert run_files == [], run_files


@pytest.mark.slow
def test_killed_worker_fails_its_run_and_the_next_runs(workspace, local_matrix) -> None:
    workspace.write_matrix(
        **{**local_matrix, "num_users_list": [2], "spawn_rate_list": [2, 1], "run_time": "8s"}
    )
    sweep = workspace.spawn("inv", "sweep", "--models", "2")
    output = OutputReader(sweep)
    try:
        wait_until(lambda: list((workspace.reports / "cpu").glob(".*")), 120, "the first run")
        worker = next(p for p in workspace.state()["processes"] if p["name"] == "model-2")
        wait_until(lambda: "Ramping to 2 users" in read_scratch_log(workspace), 30, "Locust")
        os.killpg(worker["pid"], signal.SIGKILL)
        sweep.wait(timeout=180)
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
    output.thread.join(timeout=10)
    assert sweep.returncode == 1, output.text
    failed = json.loads((workspace.reports / "cpu" / "2_2_2.meta.json").read_text())
    assert failed["status"] == "failed"
    assert failed["failure_reason"].startswith("model-2 was killed by signal 9")
    assert "during the run" in failed["failure_reason"]
    log = (workspace.reports / "cpu" / "2_2_2.log").read_text()
    assert "--- log of model-2" in log
    assert "restoring the stack to 2 replica(s)" in output.text
    following = json.loads((workspace.reports / "cpu" / "2_2_1.meta.json").read_text())
    assert following["status"] == "ok", following["failure_reason"]
    assert workspace.state() is None


def read_scratch_log(workspace) -> str:
    return "".join(
        path.read_text(errors="replace") for path in (workspace.reports / "cpu").glob(".*/*.log")
    )


@pytest.mark.slow
def test_a_nohup_sweep_outlives_the_hang_up_and_sigterm_still_ends_it(
    workspace, local_matrix
) -> None:
    workspace.write_matrix(**{**local_matrix, "num_models_list": [1], "run_time": "4s"})
    inv = str(VENV_BIN / "inv")
    sweep = subprocess.Popen(
        ["nohup", inv, "sweep", "--models", "1"],
        cwd=workspace.repo_root,
        env=workspace.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    output = OutputReader(sweep)
    try:
        wait_until(lambda: "[run 1/4]" in output.text, 120, "the first run to start")
        os.killpg(sweep.pid, signal.SIGHUP)  # the terminal went away
        # It lives on: the run it was in ends and the next one begins.
        wait_until(lambda: "[run 2/4]" in output.text, 120, "the run after the hang-up")
        assert sweep.poll() is None, output.text
        assert workspace.state() is not None, "the stack is still up"
        os.kill(sweep.pid, signal.SIGTERM)
        sweep.wait(timeout=90)
    finally:
        stop_group(sweep)
    output.thread.join(timeout=10)
    assert sweep.returncode != 0
    assert "stack down" in output.text
    assert workspace.state() is None
