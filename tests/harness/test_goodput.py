"""Goodput, DistServe's definition (locust/goodput.py): a request is good when it succeeded and met
every threshold the SLO gives; the harness hands the thresholds to the recorder as its options,
the search reads the count, and a token threshold on requests without tokens is refused."""

import argparse
import json
from pathlib import Path

import pytest

from harness import locust_module
from harness.latency import Latency
from harness.matrix import MatrixError, Slo, load_matrix
from harness.run.locust import goodput_options
from harness.verdict import within_slo

goodput = locust_module("goodput")
sse = locust_module("sse")


def generation(ttft_ms: float | None, itl_ms: float, tokens: int):
    """A success whose first token came at ttft_ms, then one token every itl_ms."""
    ttft_s = None if ttft_ms is None else ttft_ms / 1000
    last_s = None if ttft_s is None else ttft_s + (tokens - 1) * itl_ms / 1000
    return sse.Generation(
        ttft_s, last_s, (last_s or 0) + 0.001, tokens, 8, sse.USAGE, True, problem=None
    )


@pytest.mark.parametrize(
    ("thresholds", "latency_ms", "answer", "good"),
    [
        ({"e2e_ms": 100}, 90, None, True),
        ({"e2e_ms": 100}, 110, None, False),
        ({"ttft_ms": 50}, 500, generation(40, 5, 20), True),
        ({"ttft_ms": 50}, 500, generation(60, 5, 20), False),
        ({"itl_ms": 4}, 500, generation(40, 5, 20), False),
        ({"itl_ms": 6}, 500, generation(40, 5, 20), True),
        # One token has no gap between tokens: the ITL threshold is met.
        ({"itl_ms": 1}, 500, generation(40, 5, 1), True),
        # Every threshold at once: one missed is enough.
        ({"e2e_ms": 400, "ttft_ms": 50, "itl_ms": 6}, 500, generation(40, 5, 20), False),
        ({"e2e_ms": 600, "ttft_ms": 50, "itl_ms": 6}, 500, generation(40, 5, 20), True),
        # No figure to show a token threshold met: not good.
        ({"ttft_ms": 50}, 10, None, False),
        ({"ttft_ms": 50}, 10, generation(None, 5, 0), False),
        ({"itl_ms": 50}, 10, None, False),
        # No threshold: nothing is counted good.
        ({}, 10, None, False),
    ],
)
def test_a_good_request_met_every_threshold(thresholds, latency_ms, answer, good):
    assert goodput.Thresholds(**thresholds).is_good(latency_ms, answer) is good


def test_the_harness_passes_every_threshold_and_the_recorder_reads_them_back():
    slo = Slo(p95_ms=500, max_failure_ratio=0.01, ttft_ms=200, itl_ms=40)
    options = goodput_options(slo)
    # Token thresholds alone: no end-to-end one (DistServe's goodput); given, it is kept.
    assert options == ["--loadbench-ttft-ms", "200", "--loadbench-itl-ms", "40"]
    assert "--loadbench-goodput-ms" in goodput_options(Slo(500, 0.01, goodput_ms=900, ttft_ms=1))
    assert goodput_options(Slo(500, 0.01)) == ["--loadbench-goodput-ms", "500"]
    parser = argparse.ArgumentParser()
    parser.add_argument = _without_web_ui(parser.add_argument)
    goodput.add_options(parser)
    assert goodput.from_options(parser.parse_args(options)) == goodput.Thresholds(None, 200.0, 40.0)


def _without_web_ui(add_argument):
    """Locust's parser takes include_in_web_ui; argparse's does not."""
    return lambda *args, include_in_web_ui=True, **kwargs: add_argument(*args, **kwargs)


def test_the_goodput_criterion_reads_the_count_when_only_token_thresholds_are_given():
    slo = Slo(p95_ms=500, max_failure_ratio=0.01, ttft_ms=200, min_goodput=0.9)
    figures = dict(failures=0, seconds=10.0, mean_ms=1, p50_ms=1, p90_ms=1, p95_ms=1, p99_ms=1)
    figures |= dict(p999_ms=1, max_ms=1)
    assert within_slo(slo, "goodput", Latency(requests=100, good=95, **figures))
    assert not within_slo(slo, "goodput", Latency(requests=100, good=80, **figures))


def _matrix(tmp_path: Path, slo: dict, request: dict) -> Path:
    path = tmp_path / "matrix.json"
    data = {
        "num_models_list": [1],
        "num_users_list": [1],
        "spawn_rate_list": [1],
        "run_time": "5s",
        "host": "http://127.0.0.1:8000",
        "slo": slo,
        "request": request,
    }
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("key", ["ttft_ms", "itl_ms"])
def test_a_token_threshold_on_requests_without_tokens_names_its_key(tmp_path: Path, key: str):
    with pytest.raises(MatrixError, match=rf"^matrix\.json: slo\.{key}: set, but the requests"):
        load_matrix(_matrix(tmp_path, {key: 100}, {}))


@pytest.mark.parametrize("key", ["ttft_ms", "itl_ms"])
def test_a_token_threshold_must_be_positive(tmp_path: Path, key: str):
    with pytest.raises(MatrixError, match=rf"^matrix\.json: slo\.{key}: "):
        load_matrix(_matrix(tmp_path, {key: 0}, {}))


def test_token_thresholds_read_into_the_slo(tmp_path: Path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "one two"}\n')
    request = {"body": "openai_chat", "prompts": str(prompts)}
    slo = load_matrix(_matrix(tmp_path, {"ttft_ms": 250, "itl_ms": 30}, request)).slo
    assert (slo.ttft_ms, slo.itl_ms, slo.good_within_ms) == (250, 30, None)
