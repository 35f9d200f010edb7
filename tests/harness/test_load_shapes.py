"""Load as production sends it: shapes (ramps, spikes), bursty arrivals, trace replay, goodput and
the load generator's own floor. The schedules are checked against their definitions; the runs
against stand-in servers of a known service time (tests/standin/server.py), where a queue's
depth and drain, and each request's wait, are known beforehand."""

import json
import statistics

import pytest
from test_open_loop import arrived_last, sweep, waits_in_queue

from harness import locust_module
from harness.latency import read_interval_log
from harness.matrix import MatrixError, load_matrix
from harness.seconds import seconds_of

schedules = locust_module("schedules")


def gaps(times: list[float]) -> list[float]:
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


def test_a_shape_sends_the_area_under_its_rate_phase_by_phase():
    # 10/s for 5 s, a ramp to 50/s over 5 s, 50/s for 5 s: 50 + 150 + 250 arrivals.
    phases = [(10, 0, 5), (50, 5, 5)]
    times = [time for time, _ in schedules.arrivals({"arrival": "poisson", "phases": phases})]
    assert len(times) == 450
    assert sum(time < 5 for time in times) == pytest.approx(50, abs=15)
    assert sum(5 <= time < 10 for time in times) == pytest.approx(150, abs=25)
    assert sum(time >= 10 for time in times) == pytest.approx(250, abs=30)
    # Within the ramp, the rate climbs: its last second carries about 4.6 times its first's.
    first, last = (sum(lo <= time < lo + 1 for time in times) for lo in (5, 9))
    assert last > 2.5 * first


def test_constant_arrivals_follow_the_shape_evenly():
    times = [
        time for time, _ in schedules.arrivals({"arrival": "constant", "phases": [(20, 0, 2)]})
    ]
    assert gaps(times) == pytest.approx([0.05] * 39)


@pytest.mark.parametrize("burstiness", [0.25, 1.0, 4.0])
def test_gamma_gaps_vary_as_their_shape_says(burstiness: float):
    # A gamma of shape k has a coefficient of variation 1/sqrt(k): 1 is Poisson's exponential
    # gaps, lower burstier, higher more regular; the mean gap stays 1/rate.
    times = schedules.schedule(100, "gamma", 60, burstiness)
    spacing = gaps(times)
    assert len(times) == 6000
    assert statistics.fmean(spacing) == pytest.approx(0.01, rel=0.02)
    variation = statistics.stdev(spacing) / statistics.fmean(spacing)
    assert variation == pytest.approx(burstiness**-0.5, rel=0.08)


def test_burstier_arrivals_wait_longer_at_the_same_rate():
    # The same 30 requests/s on one 20 ms server: the burstier the gaps, the longer the wait.
    def mean_wait(burstiness: float) -> float:
        return statistics.fmean(
            waits_in_queue(schedules.schedule(30, "gamma", 60, burstiness), 0.020)
        )

    assert mean_wait(0.25) > 2.5 * mean_wait(1.0) > 2.5 * mean_wait(4.0)


def test_gamma_of_shape_one_waits_as_poisson_does():
    # Poisson at rho = 0.6 on a 20 ms server: M/D/1's mean wait is rho D / (2 (1 - rho)) = 15 ms.
    for arrival, burstiness in (("poisson", 1.0), ("gamma", 1.0)):
        arrivals = schedules.schedule(30, arrival, 120, burstiness)
        mean_ms = 1000 * statistics.fmean(waits_in_queue(arrivals, 0.020))
        assert mean_ms == pytest.approx(15.0, rel=0.15), arrival


def test_a_trace_is_read_in_time_order_at_its_speed(tmp_path):
    csv_trace = tmp_path / "trace.csv"
    csv_trace.write_text("t,image\n0.5,cat.jpg\n0.0,rocket.jpg\n2.0,\n")
    assert schedules.read_trace(csv_trace, 1.0) == [
        (0.0, "rocket.jpg"),
        (0.5, "cat.jpg"),
        (2.0, None),
    ]
    lines = tmp_path / "trace.jsonl"
    lines.write_text('{"t": 1.0, "image": "cat.jpg"}\n\n{"t": 3.0}\n')
    assert schedules.read_trace(lines, 2.0) == [(0.5, "cat.jpg"), (1.5, None)]
    broken = tmp_path / "broken.csv"
    broken.write_text("t\n0.1\nsoon\n")
    with pytest.raises(ValueError, match="arrival 2 has no time `t`"):
        schedules.read_trace(broken, 1.0)


def test_a_trace_the_matrix_cannot_replay_stops_it_naming_the_shape(tmp_path, repo_root):
    base = json.loads((repo_root / "matrix.json").read_text())
    trace = tmp_path / "trace.csv"
    trace.write_text("t,image\n0.1,cat.jpg\n0.2,dog.jpg\n")
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({**base, "shapes": {"day": {"trace": str(trace)}}}))
    with pytest.raises(MatrixError, match=r"shapes\.day\.trace.*dog\.jpg"):
        load_matrix(matrix)
    matrix.write_text(json.dumps({**base, "shapes": {"day": {"trace": str(tmp_path / "no")}}}))
    with pytest.raises(MatrixError, match=r"shapes\.day\.trace"):
        load_matrix(matrix)


def test_the_sample_trace_replays_with_the_images_it_names(tmp_path, repo_root):
    base = json.loads((repo_root / "matrix.json").read_text())
    trace = "locust/traces/sample.csv"
    arrivals = schedules.read_trace(repo_root / trace, 1.0)
    assert len(arrivals) > 100 and all(image for _, image in arrivals)
    matrix = tmp_path / "matrix.json"
    matrix.write_text(json.dumps({**base, "shapes": {"day": {"trace": trace}}}))
    assert load_matrix(matrix).shapes[0].seconds == pytest.approx(arrivals[-1][0])


# --- against stand-in servers --------------------------------------------------------------------


def run_shaped(workspace, local_matrix: dict, server: str, **fields) -> dict:
    """One sweep at one replica of a stand-in server, every run's record by its stem."""
    procfile = workspace.root / "Procfile"
    procfile.write_text(f"model: python -m tests.standin.server --port ${{API_PORT}} {server}\n")
    matrix = {**local_matrix, "num_models_list": [1], "ceiling": False, "warmup_requests": 5}
    for key in ("num_users_list", "spawn_rate_list"):
        matrix.pop(key)
    workspace.write_matrix(**{**matrix, "stack": {"procfile": str(procfile)}, **fields})
    sweep(workspace)
    return {
        path.name.removesuffix(".meta.json"): json.loads(path.read_text())
        for path in (workspace.reports / "cpu").glob("*.meta.json")
    }


@pytest.mark.slow
def test_a_spike_builds_the_queue_queueing_says_and_drains_as_it_says(workspace, local_matrix):
    # One server of 20 ms serves 50 requests/s. 25/s for 10 s, then 75/s for 6 s: the queue
    # grows by 25 a second to 150 requests outstanding; back at 25/s it drains 25 a second,
    # 6 s more. The p95 is back 12 s after the spike began.
    runs = run_shaped(
        workspace,
        local_matrix,
        "--service-ms 20",
        arrival="constant",
        generator_floor=False,
        shapes={
            "spike": [
                {"rate": 25, "hold": "10s"},
                {"rate": 75, "hold": "6s"},
                {"rate": 25, "hold": "20s"},
            ]
        },
    )
    run = runs["1_shape-spike"]
    assert run["kind"] == "shaped" and run["valid"], run["invalid_reasons"]
    assert run["latency"]["requests"] == pytest.approx(25 * 30 + 75 * 6, abs=3)
    # The rise is recorded; the fall back is part of its wake.
    (spike,) = run["phase_changes"]
    assert (spike["at_s"], spike["before"], spike["after"]) == (10, 25, 75)
    assert 20 <= spike["p95_before_ms"] <= 50  # the service time, and the client's own
    assert spike["peak_outstanding"] == pytest.approx(150, rel=0.15)
    # Gone 12 s after the spike began; p95 back with it (windows of 200 requests: 8 s here).
    assert 11 <= spike["drain_s"] <= 13.5
    assert 11 <= spike["back_s"] <= 15
    page = (workspace.reports / "cpu" / "1_shape-spike.telemetry.html").read_text()
    assert "Second by second" in page and "the backlog of" in page
    index = (workspace.reports / "index.html").read_text()
    assert "1_shape-spike" in index


@pytest.mark.slow
def test_a_shape_of_users_steps_the_closed_loop(workspace, local_matrix):
    # Four servers of 50 ms: nobody queues, and each user always has one request out. By
    # Little's law, the requests' time summed over a stretch of seconds is the users' count
    # times its length, whatever the client's own time per request on a busy machine (a ratio
    # of answers, four users to one, read 3.4 once).
    runs = run_shaped(
        workspace,
        local_matrix,
        "--service-ms 50 --servers 4",
        shapes={"steps": [{"users": 1, "hold": "5s"}, {"users": 4, "hold": "5s"}]},
        generator_floor=False,
    )
    run = runs["1_shape-steps"]
    assert run["kind"] == "shaped" and run["valid"], run["invalid_reasons"]
    step = run["phase_changes"][0]
    assert (step["at_s"], step["before"], step["after"]) == (5, 1, 4)
    directory = workspace.reports / "cpu"
    log = read_interval_log(
        directory / "1_shape-steps.hdr", directory / "1_shape-steps.intervals.csv"
    )
    answered = {round(one.start_s): one.requests for one in seconds_of(log, opened=False)}
    assert 40 <= sum(answered[second] for second in (1, 2, 3)) <= 60, answered  # 50 ms each

    def in_flight(start_s: float, end_s: float) -> float:
        span = log.span(start_s, end_s)
        return span.mean_ms / 1000 * span.requests / span.seconds

    assert in_flight(1, 4) == pytest.approx(1, rel=0.1), answered
    assert in_flight(6, 9) == pytest.approx(4, rel=0.1), answered


@pytest.mark.slow
def test_gamma_arrivals_are_sent_as_scheduled_and_wait_as_they_came(workspace, local_matrix):
    # Bursty gamma arrivals (k = 0.5) at 20 requests/s on a 20 ms server. The generator sends
    # this very (seeded) schedule: the server sees its gaps. Each request waits what a FIFO queue
    # fed those arrivals makes it wait, and the run's stages say so: three times Poisson's wait.
    arrived_file = workspace.root / "arrivals.txt"
    runs = run_shaped(
        workspace,
        local_matrix,
        f"--service-ms 20 --arrivals-to {arrived_file}",
        arrival_rate_list=[20],
        arrival="gamma",
        burstiness=0.5,
        run_time="20s",
        generator_floor=False,
    )
    run = runs["1_rate20"]
    assert run["valid"], run["invalid_reasons"]
    assert (run["arrival"], run["burstiness"]) == ("gamma", 0.5)
    scheduled = schedules.schedule(20, "gamma", 20, 0.5)
    arrived = arrived_last(arrived_file, len(scheduled))
    # The same clock, a different origin: each arrival against its own time in the schedule.
    # A burst's requests leave one after another, each a few milliseconds of the generator's
    # CPU (its floor on two cores), so a few of them arrive up to tens of milliseconds late.
    delays = [came - meant for came, meant in zip(arrived, scheduled, strict=True)]
    origin = statistics.median(delays)
    on_time = sum(abs(delay - origin) <= 0.025 for delay in delays) / len(delays)
    assert on_time >= 0.85, f"{on_time:.0%} of arrivals within 25 ms of their schedule"
    poisson_ms = 1000 * statistics.fmean(
        waits_in_queue(schedules.schedule(20, "poisson", 20), 0.020)
    )
    assert 1000 * statistics.fmean(waits_in_queue(scheduled, 0.020)) > 2.5 * poisson_ms
    came_ms = 1000 * statistics.fmean(waits_in_queue(arrived, 0.020))
    assert run["stages"]["stages"]["queue_wait"]["mean_ms"] == pytest.approx(came_ms, rel=0.1)


@pytest.mark.slow
def test_a_trace_is_replayed_arrival_by_arrival(workspace, local_matrix):
    # 120 arrivals in two bursts of 60, 20 per second, 6 s apart in the file, replayed twice as
    # fast: every one is sent on time, with the image it names (the first burst cats, the
    # second rockets).
    trace = workspace.root / "trace.csv"
    rows = [f"{index * 0.05:.3f},cat.jpg" for index in range(60)]
    rows += [f"{6 + index * 0.05:.3f},rocket.jpg" for index in range(60)]
    trace.write_text("t,image\n" + "\n".join(rows) + "\n")
    names = workspace.root / "names.txt"
    runs = run_shaped(
        workspace,
        local_matrix,
        f"--service-ms 2 --servers 4 --names-to {names}",
        shapes={"bursts": {"trace": str(trace), "speed": 2}},
        generator_floor=False,
    )
    run = runs["1_shape-bursts"]
    assert run["valid"], run["invalid_reasons"]
    assert run["latency"]["requests"] == 120 and run["latency"]["failures"] == 0
    # On time within the harness's threshold: a late arrival is counted, never shifted.
    assert run["schedule"]["late"] <= 0.05 * 120 and run["schedule"]["dropped"] == 0
    assert run["seconds"] == pytest.approx(3 + 59 * 0.025)
    sent = names.read_text().splitlines()[-120:]  # after the warm-up's requests
    assert sent == ["cat.jpg"] * 60 + ["rocket.jpg"] * 60


@pytest.mark.slow
def test_the_generator_floor_marks_a_tail_that_is_locusts_own(workspace, local_matrix):
    # At 100 requests/s, a 1 ms server's tail is mostly the load generator's; a 500 ms one's is
    # the server's (64 servers: 50 requests are in service at a time, none waits). The floor is
    # measured against a null endpoint at the same rate.
    fast = run_shaped(
        workspace,
        local_matrix,
        "--service-ms 1 --servers 8",
        arrival_rate_list=[100],
        run_time="5s",
    )["1_rate100"]
    assert fast["floor"]["rate"] == 100 and fast["floor"]["p99_ms"] > 0
    assert fast["generator_bound"] is True, (fast["floor"], fast["latency"]["p99_ms"])
    slow = run_shaped(
        workspace,
        local_matrix,
        "--service-ms 500 --servers 64",
        arrival_rate_list=[100],
        run_time="5s",
    )["1_rate100"]
    assert slow["generator_bound"] is False, (slow["floor"], slow["latency"]["p99_ms"])
    index = (workspace.reports / "index.html").read_text()
    assert "Generator-bound" not in index
