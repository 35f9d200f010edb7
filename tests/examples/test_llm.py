"""A real OpenAI-compatible server streaming a real model, swept end to end: LitServe's
OpenAISpec serving a small GPT-2 built at set-up (examples/llm), brought up from its Procfile,
ready when /health answers 2xx, scaling itself to ${REPLICAS} workers; `nox -s sweep` at 1 and
2 of its workers, each answer's tokens counted from the server's usage, then the capacity
search at 1 worker, on the matrix's goodput criterion.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness.stack.network import free_port
from tests.docker.sweeps import harness_env

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "llm" / "matrix.json"
MAX_TOKENS = 16
USERS = 2


def nox(session: str, env: dict) -> None:
    done = subprocess.run(
        [str(Path(sys.executable).parent / "nox"), "-s", session],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_llm_is_swept_at_one_and_two_workers_and_its_capacity_found(tmp_path: Path):
    pytest.importorskip("litserve", reason="the examples extra (make setup) brings LitServe")
    pytest.importorskip("transformers", reason="the examples extra (make setup) brings it")
    matrix = json.loads(EXAMPLE.read_text())
    matrix.update(
        host=f"http://127.0.0.1:{free_port()}",
        num_users_list=[USERS],
        spawn_rate_list=[USERS],
        run_time="6s",
        warmup_requests=4,
        min_requests=10,
        # A coarse search: each probe costs its 6 s and Locust's start.
        capacity={**matrix["capacity"], "probe_time": "6s", "tolerance": 0.25},
    )
    matrix["request"]["max_tokens"] = MAX_TOKENS
    matrix_path = tmp_path / "matrix.json"
    matrix_path.write_text(json.dumps(matrix))
    reports = tmp_path / "reports"
    env = harness_env(tmp_path)
    env.pop("API_PORT", None)

    nox("sweep", env)
    for models in (1, 2):
        record = json.loads((reports / "cpu" / f"{models}_{USERS}_{USERS}.meta.json").read_text())
        latency, stream = record["latency"], record["stream"]
        print(f"{models} workers: latency {json.dumps(latency)}\nstream {json.dumps(stream)}")
        assert record["status"] == "ok" and record["valid"], record
        assert latency["requests"] >= 10 and latency["failures"] == 0
        assert stream["requests"] == stream["streams"] == latency["requests"]
        assert stream["token_source"] == "usage"
        assert stream["output_tokens"]["total"] == latency["requests"] * MAX_TOKENS
        assert stream["input_tokens"]["mean"] > 0
        for timing in ("ttft_ms", "itl_ms", "tpot_ms"):
            assert 0 < stream[timing]["p50"] <= stream[timing]["p95"], timing
        assert stream["output_tokens_per_s"] > 0
        assert any(m["service"] == "llm" for m in record["resources"]["members"])

    nox("capacity(models=1)", env)
    search = json.loads((reports / "cpu" / "capacity.json").read_text())["scales"]["1"]
    print(f"capacity at 1 worker: {json.dumps(search)}")
    assert search["complete"] and search["note"] is None
    assert search["capacity_rps"] > 0
    assert not (tmp_path / "stack" / "state.json").exists()
