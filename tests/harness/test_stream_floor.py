"""The load generator's own floor for streams: the null endpoint (harness/run/null_server.py)
streams every token of a streaming request at once, so what the generator measures against it
is its own TTFT and ITL; a streamed open-loop run against a stand-in of known ITL
(tests/standin/llm_server.py) records that floor beside its figures, and its pages show it."""

import http.client
import json
import subprocess
import sys
from collections.abc import Iterator

import pytest
from sweep_workspace import stop_group

from harness import REPO_ROOT, locust_module
from harness.record.codec import from_data
from harness.record.parts import Floor
from harness.stack.network import port_in_use
from tests.waiting import wait_until

sse = locust_module("sse")

ITL_MS = 5.0  # the stand-in's time between tokens: the floor's ITL is the generator's, far under


@pytest.fixture
def null_server(free_port: int) -> Iterator[int]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "harness.run.null_server",
            "--port",
            str(free_port),
            "--keys",
            "a,b",
        ],
        cwd=REPO_ROOT,
        start_new_session=True,
    )
    try:
        wait_until(lambda: port_in_use(free_port), 10, "the null endpoint")
        yield free_port
    finally:
        stop_group(server)


def post(port: int, path: str, body: dict) -> tuple[str, bytes]:
    """The answer's content type and its body, de-chunked."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = connection.getresponse()
        return answer.getheader("Content-Type"), answer.read()
    finally:
        connection.close()


@pytest.mark.parametrize(
    ("path", "chat", "prompt"),
    [
        ("/v1/chat/completions", True, {"messages": [{"role": "user", "content": "hi"}]}),
        ("/v1/completions", False, {"prompt": "hi"}),
    ],
)
def test_the_null_endpoint_streams_max_tokens_tokens_a_chunk_each(null_server, path, chat, prompt):
    kind, body = post(null_server, path, {**prompt, "max_tokens": 7, "stream": True})
    assert kind == "text/event-stream"
    lines = body.splitlines(keepends=True)
    generation = sse.read_stream(((0.0, line) for line in lines), chat=chat, started=0.0)
    assert generation.problem is None
    assert (generation.output_tokens, generation.token_source) == (7, "usage")
    # One token a chunk, none of them empty, and the role-only chunk of a chat is no token.
    contents = [line for line in lines if b'"content": "tok ' in line or b'"text": "tok ' in line]
    assert len(contents) == 7
    assert lines[-2:] == [b"data: [DONE]\n", b"\n"]


def test_a_request_that_does_not_stream_gets_the_expected_keys_as_before(null_server):
    kind, body = post(null_server, "/v1/chat/completions", {"prompt": "hi", "stream": False})
    assert (kind, json.loads(body)) == ("application/json", {"a": None, "b": None})
    kind, body = post(null_server, "/predict", {"image": "stream"})
    assert (kind, json.loads(body)) == ("application/json", {"a": None, "b": None})


def test_a_floor_recorded_before_streams_reads_with_no_stream_figures():
    floor = from_data(Floor, {"rate": 40, "workers": 2, "p50_ms": 1.1, "p99_ms": 3.4}, "floor")
    assert (floor.p99_ms, floor.ttft_p50_ms, floor.ttft_p99_ms) == (3.4, None, None)
    assert (floor.itl_p50_ms, floor.itl_p99_ms) == (None, None)


@pytest.mark.slow
def test_a_streamed_runs_record_and_pages_carry_the_generators_own_ttft_and_itl(
    workspace, local_matrix
):
    prompts = workspace.root / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "a short prompt"}) + "\n")
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.llm_server --port ${API_PORT} --ttft-ms 20"
        f" --ttft-ms-per-token 0 --itl-ms {ITL_MS}\n"
    )
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "arrival_rate_list": [10],
        "run_time": "4s",
        "ceiling": False,
        "min_requests": 10,
        "stack": {"procfile": str(procfile), "metrics_path": None},
        "request": {
            "body": "openai_chat",
            "model": "stand-in",
            "max_tokens": 20,
            "prompts": str(prompts),
        },
    }
    for key in ("num_users_list", "spawn_rate_list"):
        matrix.pop(key)
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout
    record = json.loads((workspace.reports / "cpu" / "1_rate10.meta.json").read_text())
    floor, stream = record["floor"], record["stream"]
    print(f"floor {json.dumps(floor)}; the run's ITL {json.dumps(stream['itl_ms'])}")
    assert record["schema"] == 7 and floor["rate"] == 10
    # The floor's streams: read whole at once, every figure the generator's own, and its ITL
    # far under the stand-in's (a floor that timed the stand-in, or nothing, would not be).
    assert 0 < floor["ttft_p50_ms"] <= floor["ttft_p99_ms"]
    assert 0 < floor["itl_p50_ms"] <= floor["itl_p99_ms"] < ITL_MS / 10
    assert stream["itl_ms"]["p50"] == pytest.approx(ITL_MS, rel=0.05)
    page = (workspace.reports / "cpu" / "1_rate10.telemetry.html").read_text()
    assert "Its streams, every token sent at once: TTFT p50" in page
    index = (workspace.reports / "index.html").read_text()
    assert '<span class="stream-floor">(TTFT ' in index
