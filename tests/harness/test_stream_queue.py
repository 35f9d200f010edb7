"""Goodput under open-loop load, against a streaming stand-in that queues (tests/standin/
llm_server.py with `--servers`): c FIFO servers, each holding a stream from its start to its
last token. The truth of a run is a replay of the arrivals the stand-in saw through that queue,
and the truth of a capacity is a simulation of the seeded schedule through it."""

import argparse
import json

import pytest

from harness import locust_module
from tests.standin import llm_server

pytestmark = pytest.mark.slow

# Every stream: TTFT 20 + 0.5 × 20 words = 30 ms from its start, then 15 gaps of 2 ms: a server
# is held 60 ms, so 2 servers serve at most 33 streams/s.
SERVERS, PROMPT_WORDS, MAX_TOKENS = 2, 20, 16
STAND_IN = argparse.Namespace(
    servers=SERVERS, ttft_ms=20.0, ttft_ms_per_token=0.5, itl_ms=2.0, tokens_per_chunk=1
)
TTFT_SLO_MS = 60.0  # good: queued under 30 ms
# The capacity search's: good queued under 60 ms. Under 30 ms, 90 % good falls at 14.3 streams/s,
# where the good share moves 1 point in 3 % of the rate: the 3 ms the harness adds to a TTFT on a
# loaded machine move that capacity 4 %, and one 20 s window of the seeded schedule reads it up to
# 7 % high, so the test would measure the machine and the seed, not the search. Here 90 % good
# falls at 21.0 streams/s: 3 ms move it 1.4 %, a 20 s window reads it 3 % high.
CAPACITY_TTFT_SLO_MS = 90.0


def streaming_matrix(workspace, local_matrix: dict, options: str, **fields) -> None:
    prompts = workspace.root / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": " ".join(["word"] * PROMPT_WORDS)}) + "\n")
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.llm_server --port ${API_PORT} --ttft-ms"
        f" {STAND_IN.ttft_ms} --ttft-ms-per-token {STAND_IN.ttft_ms_per_token} --itl-ms"
        f" {STAND_IN.itl_ms} --servers {SERVERS} {options}\n"
    )
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "ceiling": False,
        "warmup_requests": 5,
        "stack": {"procfile": str(procfile), "metrics_path": None, "scale_service": None},
        "slo": {"ttft_ms": TTFT_SLO_MS, "min_goodput": 0.9},
        "request": {
            "body": "openai_completions",
            "model": "stand-in",
            "max_tokens": MAX_TOKENS,
            "prompts": str(prompts),
        },
        **fields,
    }
    for key in ("num_users_list", "spawn_rate_list"):
        matrix.pop(key)
    workspace.write_matrix(**matrix)


def good_share(ttfts_s: list[float], slo_ms: float = TTFT_SLO_MS) -> float:
    return sum(ttft <= slo_ms / 1000 for ttft in ttfts_s) / len(ttfts_s)


def test_an_open_loop_runs_goodput_is_the_replay_of_its_arrivals_through_the_queue(
    workspace, local_matrix
):
    # 25 streams/s on 2 servers of 60 ms (75 % busy): some streams queue past the TTFT SLO.
    arrivals_file = workspace.root / "arrivals.jsonl"
    streaming_matrix(
        workspace,
        local_matrix,
        f"--arrivals-to {arrivals_file}",
        arrival_rate_list=[25],
        run_time="24s",
    )
    result = workspace.run("inv", "sweep", "--models", "1", "--force")
    assert result.returncode == 0, result.stdout
    run = json.loads((workspace.reports / "cpu" / "1_rate25.meta.json").read_text())
    latency = run["latency"]
    assert run["valid"] and latency["failures"] == 0, run["invalid_reasons"]
    measured = latency["good"] / latency["requests"]
    arrivals = [json.loads(line) for line in arrivals_file.read_text().splitlines()]
    assert {(one["prompt_tokens"], one["max_tokens"]) for one in arrivals} == {
        (PROMPT_WORDS, MAX_TOKENS)
    }
    # The replay runs every arrival, the warm-up's included, as the stand-in's queue did; the
    # run's share is of its measured window's requests, the last of them.
    replayed = llm_server.replay(STAND_IN, arrivals)[-latency["requests"] :]
    truth = good_share(replayed)
    print(f"good: measured {measured:.3f}, replay {truth:.3f}, of {latency['requests']}")
    assert 0.3 < truth < 0.97, "the rate queues some streams past the SLO, not all or none"
    assert measured == pytest.approx(truth, abs=0.04)


def simulated_goodput_capacity(seconds: float, slo_ms: float) -> float:
    """The highest Poisson rate at which at least 90 % of streams are good within `slo_ms`,
    through the stand-in's queue fed the seeded schedule of `seconds` at that rate."""
    schedules = locust_module("schedules")

    def share(rate: float) -> float:
        arrivals = [
            {"at": at, "prompt_tokens": PROMPT_WORDS, "max_tokens": MAX_TOKENS}
            for at in schedules.schedule(rate, "poisson", seconds)
        ]
        return good_share(llm_server.replay(STAND_IN, arrivals), slo_ms)

    low, high = 1.0, SERVERS / llm_server.stream_s(STAND_IN, PROMPT_WORDS, MAX_TOKENS)
    while high - low > 0.1:
        middle = (low + high) / 2
        low, high = (middle, high) if share(middle) >= 0.9 else (low, middle)
    return low


@pytest.mark.long
def test_the_capacity_search_by_goodput_finds_the_queues_capacity(workspace, local_matrix):
    streaming_matrix(
        workspace,
        local_matrix,
        "",
        run_time="20s",
        slo={"ttft_ms": CAPACITY_TTFT_SLO_MS, "min_goodput": 0.9},
        capacity={"criterion": "goodput", "tolerance": 0.03},
    )
    result = workspace.run("inv", "capacity", "--models", "1", timeout=900)
    assert result.returncode == 0, result.stdout
    scale = json.loads((workspace.reports / "cpu" / "capacity.json").read_text())["scales"]["1"]
    # The long-run truth (600 s of the queue): probes run as long as their verdict needs, and the
    # search answers for the rate a deployment would sustain, not one 20 s window's.
    truth = simulated_goodput_capacity(600, CAPACITY_TTFT_SLO_MS)
    print(f"capacity {scale['capacity_rps']} against {truth:.1f}: {scale['probes']}")
    assert scale["complete"] and scale["note"] is None, scale
    assert scale["capacity_rps"] == pytest.approx(truth, rel=0.05)
