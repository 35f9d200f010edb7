"""The capacity search where a short probe is least sure: one FIFO server of 40 ms under a p95 of
100 ms (M/D/1, about 9.4 req/s with the stand-in's 2 ms of HTTP), whose p95 climbs slowly through
the SLO (123 ms at 12.5 req/s), so that a probe of a hundred-odd requests calls rates well over
it inside one time in five. The search must not take such a probe's word: its capacity stays
within 10 % of a long simulation's."""

import json
import random

import pytest

pytestmark = pytest.mark.slow

SERVICE_S, SLO_S = 0.040, 0.100
OVERHEAD_S = 0.002  # HTTP and the stand-in's own time, beside its service time


def simulated_capacity(seconds: float = 3000) -> float:
    """The highest Poisson rate whose p95 latency, in a long M/D/1 simulation, keeps the SLO."""

    def p95(rate: float) -> float:
        draw, now, free, latencies = random.Random(3), 0.0, 0.0, []
        while now < seconds:
            now += draw.expovariate(rate)
            free = max(now, free) + SERVICE_S
            latencies.append(free - now + OVERHEAD_S)
        latencies.sort()
        return latencies[int(0.95 * len(latencies))]

    low, high = 1.0, 1 / SERVICE_S
    while high - low > 0.05:
        middle = (low + high) / 2
        low, high = (middle, high) if p95(middle) <= SLO_S else (low, middle)
    return low


@pytest.mark.long
def test_the_search_holds_an_m_d_1_of_40_ms_within_10_percent(workspace, local_matrix):
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.server --port ${API_PORT} --service-ms 40\n"
    )
    closed = ("num_users_list", "spawn_rate_list")  # no sweep: the search starts from nothing
    workspace.write_matrix(
        **{
            **{key: value for key, value in local_matrix.items() if key not in closed},
            "num_models_list": [1],
            "ceiling": False,
            "warmup_requests": 5,
            "run_time": "10s",
            "slo": {"p95_ms": SLO_S * 1000, "max_failure_ratio": 0.01},
            "stack": {"procfile": str(procfile)},
        }
    )
    result = workspace.run("inv", "capacity", "--models", "1", timeout=600)
    assert result.returncode == 0, result.stdout
    found = json.loads((workspace.reports / "cpu" / "capacity.json").read_text())
    assert found["probe_time"] == "auto"
    scale = found["scales"]["1"]
    truth = simulated_capacity()
    assert truth == pytest.approx(9.4, abs=0.25)
    rates = [(probe["rate"], probe["within"], probe["settled"]) for probe in scale["probes"]]
    assert scale["complete"] and scale["capacity_rps"] == pytest.approx(truth, rel=0.10), rates
    assert scale["probes"][0]["ramp"] and scale["probes"][0]["turn_rps"], rates
    for probe in scale["probes"][1:]:
        if probe["settled"] and probe["within"]:
            assert probe["rate"] <= truth * 1.05, rates  # what the bound calls inside is inside
