"""The warm-up before a run, and the drain that replaces it on a warm stack (harness/run/warmup.py):
a capacity search's probes after its first follow a run on the same stack seconds before, so they
send one request, which waits out what that run left queued (the warm-up after it only where it
fails). Against a real stand-in server, and a real local stack for the session that decides
which."""

import json
import signal
import subprocess
import threading
import time
from pathlib import Path

import requests

import harness.run
from harness.matrix import load_matrix
from harness.run.locust import stop_group
from harness.run.warmup import warm_up
from harness.session import Command, scale_session
from tests.standin.process import start_server
from tests.waiting import wait_until

SERVICE_MS = 50


def stand_in(port: int, arrivals: Path, *options: str) -> subprocess.Popen:
    """A stand-in server of one FIFO server of SERVICE_MS, writing down each arrival."""
    return start_server(port, SERVICE_MS, "--arrivals-to", str(arrivals), *options)


def matrix_file(tmp_path: Path, local_matrix: dict, **overrides) -> Path:
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps({**local_matrix, "warmup_requests": 5, **overrides}))
    return path


def arrived(arrivals: Path) -> int:
    return len(arrivals.read_text().splitlines()) if arrivals.exists() else 0


def test_a_warm_stack_gets_one_request_not_the_warm_up(tmp_path, free_port, local_matrix):
    arrivals = tmp_path / "arrivals"
    server = stand_in(free_port, arrivals)
    try:
        matrix = load_matrix(matrix_file(tmp_path, local_matrix))
        assert warm_up(matrix) is None
        assert arrived(arrivals) == 5
        assert warm_up(matrix, warm=True) is None
        assert arrived(arrivals) == 6
        no_warm_up = load_matrix(matrix_file(tmp_path, local_matrix, warmup_requests=0))
        assert warm_up(no_warm_up, warm=True) is None
        assert arrived(arrivals) == 6, "a matrix that asks no warm-up gets no drain either"
    finally:
        stop_group(server)


def test_a_drain_that_fails_is_followed_by_the_warm_up_judged_as_ever(
    tmp_path, free_port, local_matrix
):
    # A stack that died since the run before must fail the run, as the warm-up always made it.
    arrivals = tmp_path / "arrivals"
    server = stand_in(free_port, arrivals, "--faults", "500:1.0")
    try:
        matrix = load_matrix(matrix_file(tmp_path, local_matrix))
        reason = warm_up(matrix, warm=True)
        assert reason is not None and "none of 5 requests succeeded" in reason
        assert arrived(arrivals) == 1 + 5
    finally:
        stop_group(server)


def test_the_drain_waits_out_what_the_run_before_left_queued(tmp_path, free_port, local_matrix):
    server = stand_in(free_port, tmp_path / "arrivals")
    try:
        matrix = load_matrix(matrix_file(tmp_path, local_matrix))
        left = 10  # requests a run left in the stand-in's queue when it stopped
        url = f"{matrix.host}/predict"
        senders = [
            threading.Thread(target=requests.post, args=(url,), kwargs={"timeout": 30})
            for _ in range(left)
        ]
        for sender in senders:
            sender.start()
        wait_until(lambda: arrived(tmp_path / "arrivals") == left, 10, "the queue left behind")
        assert warm_up(matrix, warm=True) is None
        drained = time.monotonic()  # the stand-in's clock too: both are this machine's monotonic
        for sender in senders:
            sender.join(timeout=30)
        # FIFO: the drain's request is served after every one queued before it, the first of
        # which began its service as it arrived.
        first = float((tmp_path / "arrivals").read_text().split()[0])
        assert drained - first >= 0.95 * (left + 1) * SERVICE_MS / 1000, drained - first
    finally:
        stop_group(server)


def local_stand_in(tmp_path: Path, local_matrix: dict, *options: str) -> Command:
    """A command on a local stack of one stand-in of 5 ms a request, writing down each arrival
    to tmp_path / "arrivals"."""
    procfile = tmp_path / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.server --port ${API_PORT} --service-ms 5"
        f" --arrivals-to {tmp_path / 'arrivals'} {' '.join(options)}\n"
    )
    stack = {"procfile": str(procfile)}
    matrix = load_matrix(matrix_file(tmp_path, local_matrix, ceiling=False, stack=stack))
    return Command(matrix, "cpu", "local", tmp_path / "reports", tmp_path / "state")


def test_a_session_drains_only_a_stack_that_served_the_run_before(
    tmp_path, free_port, local_matrix, monkeypatch
):
    arrivals = tmp_path / "arrivals"
    command = local_stand_in(tmp_path, local_matrix)
    point = command.matrix.open_point("cpu", 1, 20, "2s", "poisson")
    sent = []

    def counted_warm_up(matrix, warm=False):
        # The real warm-up, the stand-in's arrivals counted around it: exact, whatever the
        # run's own requests do (counted as a run's arrivals less its recorded requests, the
        # test failed once, unexplained, in 16 runs).
        before = arrived(arrivals)
        failure = warm_up(matrix, warm)
        sent.append(arrived(arrivals) - before)
        return failure

    monkeypatch.setattr(harness.run, "warm_up", counted_warm_up)
    with scale_session(command, 1, keep_up=False) as session:

        def run(keep_warm: bool) -> None:
            record = session.run(point, keep_warm=keep_warm)
            assert record.status == "ok", record.failure_reason

        run(True)
        run(True)
        run(False)
        [server] = session.stack.processes
        server.signal_group(signal.SIGKILL)
        wait_until(lambda: not server.running(), 10, "the stand-in killed")
        run(True)
    # The first run warms the stack up; the next, on the stack it warmed, drains it; asked for
    # the warm-up, a run still gets it; on a replica restored since the run before, too.
    assert sent == [5, 1, 5, 5]


def test_a_session_warms_up_again_after_a_failed_run(tmp_path, free_port, local_matrix):
    arrivals = tmp_path / "arrivals"
    command = local_stand_in(tmp_path, local_matrix, "--faults", "500:1.0")
    point = command.matrix.open_point("cpu", 1, 20, "2s", "poisson")
    sent = []
    with scale_session(command, 1, keep_up=False) as session:
        for _ in range(2):
            before = arrived(arrivals)
            record = session.run(point, keep_warm=True)
            assert record.status == "failed" and "warm-up" in record.failure_reason
            sent.append(arrived(arrivals) - before)
    assert sent == [5, 5], "a failed run proved nothing: the next is warmed up whole"
