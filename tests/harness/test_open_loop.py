"""Open-loop runs against stand-in servers with a known service time, where queueing theory
gives the answer (tests/standin/server.py): the sweep's open-loop runs, their validity, the
closed loop's blind spot, and the capacity search."""

import json
import os
import random
import signal
import statistics

import pytest
from sweep_workspace import OutputReader

from tests.waiting import wait_until

pytestmark = pytest.mark.slow


def standin_matrix(workspace, local_matrix: dict, server: str, **fields) -> None:
    """The workspace's matrix on a stand-in: its one `model` replica is the server itself."""
    procfile = workspace.root / "Procfile"
    procfile.write_text(f"model: python -m tests.standin.server --port ${{API_PORT}} {server}\n")
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "ceiling": False,
        "warmup_requests": 5,
        "stack": {"procfile": str(procfile)},
        **fields,
    }
    for key in ("num_users_list", "spawn_rate_list"):
        if key not in fields:
            matrix.pop(key)
    workspace.write_matrix(**matrix)


def record(workspace, stem: str) -> dict:
    return json.loads((workspace.reports / "cpu" / f"{stem}.meta.json").read_text())


def sweep(workspace) -> None:
    result = workspace.run("inv", "sweep", "--models", "1", "--force")
    assert result.returncode == 0, result.stdout


def test_constant_arrivals_below_capacity_see_the_service_time(workspace, local_matrix):
    # One server, 20 ms per request, a request every 50 ms: nobody ever waits.
    standin_matrix(
        workspace,
        local_matrix,
        "--service-ms 20",
        arrival_rate_list=[20],
        arrival="constant",
        run_time="8s",
    )
    sweep(workspace)
    run = record(workspace, "1_rate20")
    assert run["kind"] == "open" and run["valid"], run["invalid_reasons"]
    assert run["schedule"]["achieved_rate"] == pytest.approx(20, rel=0.03)
    latency = run["latency"]
    # Bursts would show: two requests sent together make the mean 30 ms.
    assert 20 <= latency["mean_ms"] <= 27, latency
    assert latency["p95_ms"] <= 32, latency


def test_poisson_arrivals_wait_as_m_d_1_says(workspace, local_matrix):
    # L0: the latency without waiting (service time and HTTP), from constant arrivals.
    standin_matrix(
        workspace,
        local_matrix,
        "--service-ms 20",
        arrival_rate_list=[10],
        arrival="constant",
        run_time="6s",
    )
    sweep(workspace)
    without_waiting = record(workspace, "1_rate10")["latency"]["mean_ms"]
    # Poisson at rho = 0.6: the mean wait is rho D / (2 (1 - rho)) = 15 ms.
    standin_matrix(
        workspace, local_matrix, "--service-ms 20", arrival_rate_list=[30], run_time="30s"
    )
    sweep(workspace)
    run = record(workspace, "1_rate30")
    assert run["valid"], run["invalid_reasons"]
    expected = without_waiting + 0.6 * 20 / (2 * (1 - 0.6))
    assert run["latency"]["mean_ms"] == pytest.approx(expected, rel=0.10)


def test_a_stall_shows_in_the_open_loop_p99_and_not_in_the_closed_loops(workspace, local_matrix):
    # Two servers of 10 ms that freeze for 1 s every 4 s. One closed-loop user waits out each
    # stall with one request; open-loop arrivals keep coming and every one of them waits.
    server = "--service-ms 10 --servers 2 --stall-every-s 4 --stall-ms 1000"
    standin_matrix(
        workspace,
        local_matrix,
        server,
        num_users_list=[1],
        spawn_rate_list=[1],
        run_time="12s",
    )
    sweep(workspace)
    closed = record(workspace, "1_1_1")
    closed_rps = closed["latency"]["requests"] / closed["latency"]["seconds"]
    assert closed["latency"]["p99_ms"] < 100, closed["latency"]
    rate = round(closed_rps)
    standin_matrix(
        workspace,
        local_matrix,
        server,
        num_users_list=[1],
        spawn_rate_list=[1],
        arrival_rate_list=[rate],
        run_time="12s",
    )
    result = workspace.run("inv", "sweep", "--models", "1")  # the closed run is kept
    assert result.returncode == 0, result.stdout
    opened = record(workspace, f"1_rate{rate}")
    assert opened["valid"], opened["invalid_reasons"]
    assert opened["latency"]["p99_ms"] > 500, opened["latency"]
    page = (workspace.reports / "index.html").read_text()
    assert "coordinated omission" in page
    assert f"at about {rate}.0 req/s: the closed loop (1 user)" in page


def test_a_rate_the_load_generator_cannot_sustain_is_invalid(workspace, local_matrix):
    standin_matrix(
        workspace,
        local_matrix,
        "--service-ms 1 --servers 64",
        arrival_rate_list=[5000],
        max_in_flight=8,
        run_time="4s",
    )
    sweep(workspace)
    run = record(workspace, "1_rate5000")
    assert run["valid"] is False
    reasons = " ".join(run["invalid_reasons"])
    assert "late" in reasons or "achieved" in reasons, reasons
    page = (workspace.reports / "index.html").read_text()
    assert "left out of every conclusion, as invalid: cpu/1_rate5000" in page


def simulated_capacity(servers: int, service_s: float, slo_s: float, seconds: float) -> float:
    """The highest Poisson rate whose median p95 wait stays within `slo_s`, in an M/D/c queue
    run for `seconds` (as long as a probe), from 24 seeded simulations per rate."""

    def p95_wait(rate: float, seed: int) -> float:
        draw = random.Random(seed)
        arrivals = sorted(draw.uniform(0, seconds) for _ in range(round(rate * seconds)))
        free = [0.0] * servers
        waits = []
        for arrival in arrivals:
            soonest = min(range(servers), key=free.__getitem__)
            start = max(arrival, free[soonest])
            free[soonest] = start + service_s
            waits.append(start - arrival)
        return statistics.quantiles(waits, n=20)[-1]

    def within(rate: float) -> bool:
        return statistics.median(p95_wait(rate, seed) for seed in range(24)) <= slo_s

    low, high = 1.0, servers / service_s * 1.5
    while high - low > 0.5:
        middle = (low + high) / 2
        low, high = (middle, high) if within(middle) else (low, middle)
    return low


def test_the_capacity_search_finds_the_capacity_and_resumes(workspace, local_matrix):
    # Four servers of 20 ms: at most 200 requests/s. The sweep gives the search its start (the
    # closed loop's throughput at 8 users) and the latency without waiting (20 requests/s).
    standin_matrix(
        workspace,
        local_matrix,
        "--service-ms 20 --servers 4",
        num_users_list=[8],
        spawn_rate_list=[8],
        arrival_rate_list=[20],
        arrival="constant",
        run_time="8s",
        slo={"p95_ms": 60, "max_failure_ratio": 0.01},
    )
    sweep(workspace)
    base_ms = record(workspace, "1_rate20")["latency"]["p95_ms"]
    search = workspace.spawn("inv", "capacity", "--models", "1")
    output = OutputReader(search)
    capacity_file = workspace.reports / "cpu" / "capacity.json"

    def probes_done() -> int:
        try:
            return len(json.loads(capacity_file.read_text())["scales"]["1"]["probes"])
        except (FileNotFoundError, KeyError, ValueError):
            return 0

    try:
        wait_until(lambda: probes_done() >= 2, 120, "two probes")
        os.killpg(search.pid, signal.SIGINT)
        search.wait(timeout=60)
    finally:
        if search.poll() is None:
            os.killpg(search.pid, signal.SIGKILL)
            search.wait()
    output.thread.join(timeout=10)
    interrupted = json.loads(capacity_file.read_text())["scales"]["1"]
    assert interrupted["complete"] is False
    kept = interrupted["probes"]

    resumed = workspace.run("inv", "capacity", "--models", "1", timeout=600)
    assert resumed.returncode == 0, resumed.stdout
    assert f"[probe {len(kept) + 1}]" in resumed.stdout
    assert "[probe 1]" not in resumed.stdout
    scale = json.loads(capacity_file.read_text())["scales"]["1"]
    assert scale["probes"][: len(kept)] == kept
    assert scale["complete"] and scale["note"] is None
    assert len(scale["probes"]) <= 8
    truth = simulated_capacity(4, 0.020, (60 - base_ms) / 1000, 8)
    assert truth * 0.95 <= scale["capacity_rps"] * 1.05
    assert scale["capacity_rps"] <= truth * 1.10
    for probe in scale["probes"]:
        assert (workspace.reports / "cpu" / probe["report"]).is_file()
