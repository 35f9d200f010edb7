"""A spike's wake against a queue whose answer is known: arrivals replayed through FIFO servers
of a fixed service time (as tests/standin/server.py serves them), so when the backlog was gone
is known to the millisecond. The harness's drain (from the requests outstanding) and its p95
"back" (on windows of 200 requests) are checked against that replay, first on the recorder's
seconds made from the replay itself, then end to end against the stand-in."""

import math
import random

import pytest
from hdrh.histogram import HdrHistogram
from test_load_shapes import run_shaped
from test_open_loop import arrived_last

from harness import locust_module
from harness.latency import Interval, IntervalLog
from harness.seconds import changes, drained, phase_changes, seconds_of

schedules = locust_module("schedules")

SERVERS, SERVICE_S = 2, 0.025  # 80 requests/s at most
# The spike: 40/s for 15 s, 120/s for 8 s, 40/s for 30 s (Poisson).
SPIKE = ((40, 0, 15), (120, 0, 8), (40, 0, 30))
CLIENT_S = 0.004  # the load generator's own share of each latency, as the client sees it


def fifo(arrivals: list[float], servers: int, service_s: float) -> list[float]:
    """When each arrival is answered by `servers` FIFO servers of a fixed service time."""
    free, finished = [0.0] * servers, []
    for arrival in arrivals:
        server = min(range(servers), key=free.__getitem__)
        free[server] = max(arrival, free[server]) + service_s
        finished.append(free[server])
    return finished


def backlog_gone(arrivals: list[float], finished: list[float], rise_s: float) -> float:
    """When the replayed queue (requests arrived and not yet answered) was first, after its
    deepest, no deeper than it ever got in the 5 s before the rise: the spike's backlog was gone,
    and the requests after met a queue such as they met before it."""
    events = sorted([(when, 1) for when in arrivals] + [(when, -1) for when in finished])
    depths, depth = [], 0
    for when, change in events:
        depth += change
        depths.append((when, depth))
    usual = max(depth for when, depth in depths if rise_s - 5 <= when < rise_s)
    deepest = max(range(len(depths)), key=lambda index: depths[index][1])
    for index in range(deepest, len(depths)):
        when, depth = depths[index]
        if depth <= usual:
            return when
    raise AssertionError("the backlog never drained")


def recorded(arrivals: list[float], finished: list[float], window_s: float) -> IntervalLog:
    """The recorder's seconds of a replay: each answer's latency in the second it ended, each
    arrival in the second it was due; the window's last second partial."""
    seconds = math.ceil(window_s)
    histograms = [HdrHistogram(1, 60_000_000, 3) for _ in range(seconds)]
    scheduled = [0] * seconds
    for arrival, answer in zip(arrivals, finished, strict=True):
        scheduled[int(arrival)] += 1
        ended = answer + CLIENT_S
        histograms[min(int(ended), seconds - 1)].record_value(round(1e6 * (ended - arrival)))
    intervals = [
        Interval(
            float(second),
            min(1.0, window_s - second),
            histogram.encode().decode() if histogram.get_total_count() else None,
            {"requests": histogram.get_total_count(), "scheduled": scheduled[second]},
        )
        for second, histogram in enumerate(histograms)
    ]
    return IntervalLog(1_700_000_000.0, window_s, intervals)


def spike_spec(phases) -> dict:
    return {"arrival": "poisson", "phases": [list(phase) for phase in phases]}


def poisson(phases, seed: int) -> list[float]:
    """Poisson arrivals phase by phase (each phase's count uniform over it), of its own seed."""
    draw, arrivals, start = random.Random(seed), [], 0.0
    for rate, _, hold in phases:
        arrivals += sorted(start + hold * draw.random() for _ in range(round(rate * hold)))
        start += hold
    return arrivals


@pytest.mark.parametrize("seed", [None, 3, 5, 7])
def test_the_drain_and_back_of_a_replayed_spike_are_when_its_backlog_was_gone(seed):
    # The spike, replayed through its queue: 40 a second too many for 8 s leave about
    # 320 waiting, served at 40 a second more than arrive: gone some 8 s after the spike ended.
    # The schedule's own arrivals (None), and other draws: with seeds 3 and 5 the old rule (one
    # second's p95 within 10%, 2 s running) said back 4.6 and 8.6 s after the backlog was gone.
    if seed is None:
        arrivals = [when for when, _ in schedules.arrivals(spike_spec(SPIKE))]
    else:
        arrivals = poisson(SPIKE, seed)
    finished = fifo(arrivals, SERVERS, SERVICE_S)
    rise_s = changes(SPIKE)[0][0]
    truth = backlog_gone(arrivals, finished, rise_s) - rise_s
    assert 13 <= truth <= 19
    log = recorded(arrivals, finished, max(finished) + CLIENT_S + 0.4)
    (spike,) = phase_changes(log, seconds_of(log, opened=True), SPIKE)
    assert spike.at_s == rise_s
    assert spike.drain_s == pytest.approx(truth, abs=max(2, 0.15 * truth))
    assert spike.back_s == pytest.approx(truth, abs=max(3, 0.2 * truth))
    assert spike.peak_outstanding == pytest.approx(8 * 40, rel=0.15)


def test_a_level_that_never_left_drained_at_once_and_one_that_never_came_back_never():
    flat = [(float(second), 2.0) for second in range(20)]
    assert drained(flat, 10.0, math.inf) == 0.0
    stuck = [(float(second), 2.0 if second < 10 else 50.0) for second in range(20)]
    assert drained(stuck, 10.0, math.inf) is None
    # 2 before; up to 30 and down by 10 a second: under 5 (2 + 3) between 12 s and 13 s.
    spike = [(float(second), 2.0) for second in range(10)]
    spike += [(10.0, 20.0), (11.0, 30.0), (12.0, 20.0), (13.0, 2.0), (14.0, 2.0), (15.0, 2.0)]
    assert drained(spike, 10.0, math.inf) == pytest.approx(2 + 15 / 18)
    # A level that dips under its limit once and rises again has not drained there.
    dipping = spike[:13] + [(13.0, 4.0), (14.0, 12.0), (15.0, 2.0), (16.0, 2.0), (17.0, 2.0)]
    assert drained(dipping, 10.0, math.inf) == pytest.approx(4 + 7 / 10)
    # A level that wandered from 0 to 3 in the 5 s before (mean 1.4), back under 4.4 (1.4 + 3) at
    # 13.7 s, then 5 and 4, as high as it wandered before (under 3 + 3): drained at 13.7 s.
    wandering = [(float(second), float(second % 4)) for second in range(10)]
    wandering += [(10.0, 20.0), (11.0, 30.0), (12.0, 20.0), (13.0, 10.0), (14.0, 2.0)]
    wandering += [(15.0, 5.0), (16.0, 4.0), (17.0, 0.0), (18.0, 1.0)]
    assert drained(wandering, 10.0, math.inf) == pytest.approx(3 + 5.6 / 8)


@pytest.mark.slow
def test_a_spike_against_the_standin_drains_when_its_replayed_backlog_is_gone(
    workspace, local_matrix
):
    # The spike, shortened: 40/s for 10 s, 120/s for 6 s, 40/s for 20 s against 2
    # servers of 25 ms (80/s). The arrivals the stand-in saw, replayed through its queue, say
    # when the backlog was gone; the run's drain and back are checked against that.
    arrived_file = workspace.root / "arrivals.txt"
    phases = ((40, 0, 10), (120, 0, 6), (40, 0, 20))
    runs = run_shaped(
        workspace,
        local_matrix,
        f"--service-ms 25 --servers 2 --arrivals-to {arrived_file}",
        arrival="poisson",
        generator_floor=False,
        shapes={"spike": [{"rate": rate, "hold": f"{hold}s"} for rate, _, hold in phases]},
    )
    run = runs["1_shape-spike"]
    assert run["kind"] == "shaped" and run["valid"], run["invalid_reasons"]
    scheduled = [when for when, _ in schedules.arrivals(spike_spec(phases))]
    arrived = arrived_last(arrived_file, len(scheduled))
    finished = fifo(arrived, SERVERS, SERVICE_S)
    # The stand-in's clock against the schedule's: the median of each arrival's delay.
    origin = sorted(came - meant for came, meant in zip(arrived, scheduled, strict=True))
    rise = origin[len(origin) // 2] + 10
    truth = backlog_gone(arrived, finished, rise) - rise
    deepest = max(
        sum(came <= when for came in arrived) - sum(done <= when for done in finished)
        for when in arrived
    )
    (spike,) = run["phase_changes"]
    assert spike["at_s"] == 10
    assert spike["drain_s"] == pytest.approx(truth, abs=max(2, 0.15 * truth)), truth
    assert spike["back_s"] == pytest.approx(truth, abs=max(3, 0.2 * truth)), truth
    assert spike["peak_outstanding"] == pytest.approx(deepest, rel=0.15)
    assert spike["queue_drained_s"] is None  # the stand-in exports no queue depth
    page = (workspace.reports / "cpu" / "1_shape-spike.telemetry.html").read_text()
    assert f"the backlog of {spike['peak_outstanding']} requests was gone" in page
    index = (workspace.reports / "index.html").read_text()
    assert f"drained in {spike['drain_s']:.0f} s, {spike['peak_outstanding']} outstanding" in index
