"""A generative run against a streaming stand-in of known answer (tests/standin/llm_server.py):
real Locust, real HTTP, a real sweep. The stand-in serves every stream at once, so its timings
are the truth: TTFT = a + b × prompt tokens, then a chunk every itl × k carrying k tokens."""

import json
import statistics

import pytest

from harness.generation_files import read_log, stream_seconds

pytestmark = pytest.mark.slow

TTFT_MS, TTFT_MS_PER_TOKEN, ITL_MS = 20.0, 0.5, 5.0
# 41 = 4 × 10 + 1: at k = 4 the last chunk carries one token, so the first and last content
# chunks are 40 tokens apart at k = 1 and at k = 4 alike, and the per-token ITL is exactly itl.
MAX_TOKENS = 41
PROMPT_WORDS = (8, 32)


def generative_sweep(
    workspace,
    local_matrix,
    options: str,
    slo: dict | None = None,
    ttft_ms_per_token: float = TTFT_MS_PER_TOKEN,
    **request,
) -> dict:
    prompts = workspace.root / "prompts.jsonl"
    prompts.write_text(
        "".join(json.dumps({"prompt": " ".join(["word"] * n)}) + "\n" for n in PROMPT_WORDS)
    )
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.llm_server --port ${API_PORT} --ttft-ms"
        f" {TTFT_MS} --ttft-ms-per-token {ttft_ms_per_token} --itl-ms {ITL_MS} {options}\n"
    )
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "num_users_list": [2],
        "spawn_rate_list": [2],
        "run_time": "6s",
        "ceiling": False,
        "min_requests": 10,
        "stack": {"procfile": str(procfile), "metrics_path": None},
        "slo": slo or {},
        "request": {
            "body": "openai_chat",
            "model": "stand-in",
            "max_tokens": MAX_TOKENS,
            "prompts": str(prompts),
            **request,
        },
    }
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout
    return json.loads((workspace.reports / "cpu" / "1_2_2.meta.json").read_text())


@pytest.mark.parametrize("tokens_per_chunk", [1, 4])
def test_ttft_itl_and_tokens_match_the_stand_ins_truth(workspace, local_matrix, tokens_per_chunk):
    record = generative_sweep(
        workspace, local_matrix, f"--tokens-per-chunk {tokens_per_chunk} --usage-with-choices"
    )
    stream, latency = record["stream"], record["latency"]
    print(f"k={tokens_per_chunk}: stream {json.dumps(stream)}")
    assert record["status"] == "ok" and record["schema"] == 7
    assert (
        latency["failures"] == 0 and stream["requests"] == stream["streams"] == latency["requests"]
    )
    assert stream["token_source"] == "usage"
    assert stream["output_tokens"]["total"] == latency["requests"] * MAX_TOKENS
    assert min(PROMPT_WORDS) <= stream["input_tokens"]["mean"] <= max(PROMPT_WORDS)
    # TTFT is linear in the prompt's tokens: its mean is the truth at the mean prompt.
    truth_ms = TTFT_MS + TTFT_MS_PER_TOKEN * stream["input_tokens"]["mean"]
    assert stream["ttft_ms"]["mean"] == pytest.approx(truth_ms, rel=0.05, abs=3.0)
    assert stream["ttft_ms"]["p50"] >= TTFT_MS + TTFT_MS_PER_TOKEN * min(PROMPT_WORDS) * 0.95
    # Per token, whatever the chunking: one that counted chunks would be 4 × off at k = 4.
    assert stream["itl_ms"]["mean"] == pytest.approx(ITL_MS, rel=0.05)
    assert stream["tpot_ms"]["mean"] == pytest.approx(ITL_MS, rel=0.05)
    # Every gap between chunks is k tokens' time: what vLLM calls ITL.
    gap = stream["chunk_gap_ms"]
    assert gap["mean"] == pytest.approx(ITL_MS * tokens_per_chunk, rel=0.05)
    # Two users, each always in a stream but for the instant between two: 2 in flight.
    prefix = workspace.reports / "cpu" / "1_2_2"
    seconds = stream_seconds(prefix, read_log(prefix))
    in_flight = [second.streams_in_flight for second in seconds]
    assert set(in_flight) <= {1, 2} and statistics.median(in_flight) == 2, in_flight
    files = set(record["files"])
    assert {"1_2_2.ttft.hdr", "1_2_2.itl.hdr", "1_2_2.tpot.hdr", "1_2_2.chunk_gap.hdr"} <= files


def test_without_usage_tokens_are_counted_by_chunk_and_the_record_says_so(workspace, local_matrix):
    record = generative_sweep(workspace, local_matrix, "--tokens-per-chunk 4 --no-usage")
    stream, requests = record["stream"], record["latency"]["requests"]
    assert stream["token_source"] == "chunks" and stream["input_tokens"] is None
    chunks = -(-MAX_TOKENS // 4)  # what the harness can count: 11 chunks for 41 tokens
    assert stream["output_tokens"]["total"] == requests * chunks
    # Counted by chunk, a token is 4 × itl apart: the record says "chunks" beside it.
    assert stream["itl_ms"]["mean"] == pytest.approx(4 * ITL_MS, rel=0.05)


def test_without_usage_the_matrixs_tokenizer_counts_the_tokens(workspace, local_matrix):
    tokenizers = pytest.importorskip("tokenizers", reason="the harness extra (make setup) has it")
    # The stand-in's tokens are the word "tok": a tokenizer of words counts each.
    words = tokenizers.Tokenizer(tokenizers.models.WordLevel({"tok": 0, "?": 1}, unk_token="?"))
    words.pre_tokenizer = tokenizers.pre_tokenizers.WhitespaceSplit()
    path = workspace.root / "tokenizer.json"
    words.save(str(path))
    record = generative_sweep(
        workspace, local_matrix, "--tokens-per-chunk 4 --no-usage", tokenizer=str(path)
    )
    stream, requests = record["stream"], record["latency"]["requests"]
    assert stream["token_source"] == "tokenizer" and stream["input_tokens"] is None
    assert stream["output_tokens"]["total"] == requests * MAX_TOKENS
    assert stream["itl_ms"]["mean"] == pytest.approx(ITL_MS, rel=0.05)  # per token, not chunk


def test_every_kind_of_bad_stream_is_a_failure_of_its_kind(workspace, local_matrix):
    faults = "not-sse,not-json,error,cut,stall,429"
    record = generative_sweep(
        workspace,
        local_matrix,
        f"--faults {faults} --fault-every 2 --stall-s 3",
        stall_timeout_s=0.5,
    )
    kinds = record["latency"]["failure_kinds"]
    assert record["status"] == "ok"
    assert set(kinds) == {
        "not SSE",
        "not JSON",
        "error answer",
        "stream cut",
        "stalled",
        "HTTP 429",
    }
    assert record["latency"]["failures"] == sum(kinds.values())
    # Tokens a failed stream received still count; its timings do not.
    stream = record["stream"]
    assert (
        stream["output_tokens"]["total"]
        > (record["latency"]["requests"] - sum(kinds.values())) * MAX_TOKENS
    )


# 20 + 2 × words: 36 ms for the 8-word prompt, 84 ms for the 32-word one.
GOODPUT_TTFT_MS_PER_TOKEN = 2.0


def test_a_ttft_threshold_between_the_two_prompts_keeps_the_short_ones_good(
    workspace, local_matrix
):
    short_ms, long_ms = (TTFT_MS + GOODPUT_TTFT_MS_PER_TOKEN * n for n in PROMPT_WORDS)
    record = generative_sweep(
        workspace,
        local_matrix,
        "--usage-with-choices",
        slo={"ttft_ms": (short_ms + long_ms) / 2},
        ttft_ms_per_token=GOODPUT_TTFT_MS_PER_TOKEN,
    )
    latency, stream = record["latency"], record["stream"]
    # The prompts are drawn at random: how many were short, from the input tokens recorded
    # (8 a short prompt, 32 a long one).
    short, long = PROMPT_WORDS
    drawn_short = (long * stream["requests"] - stream["input_tokens"]["total"]) / (long - short)
    short_share = drawn_short / stream["requests"]
    good_share = latency["good"] / latency["requests"]
    print(f"short prompts {short_share:.3f}, good {good_share:.3f}, of {latency['requests']}")
    assert latency["failures"] == 0 and 0.2 < short_share < 0.8
    assert good_share == pytest.approx(short_share, abs=0.02)


def test_an_itl_threshold_under_the_stand_ins_leaves_nothing_good(workspace, local_matrix):
    record = generative_sweep(
        workspace, local_matrix, "--usage-with-choices", slo={"itl_ms": ITL_MS / 2}
    )
    latency = record["latency"]
    assert latency["requests"] > 0 and latency["failures"] == 0
    assert latency["good"] == 0


def test_an_end_to_end_threshold_over_every_answer_keeps_them_all_good(workspace, local_matrix):
    # Each answer takes about TTFT + 40 × ITL, some 240 ms: 2 s is far over it.
    record = generative_sweep(workspace, local_matrix, "", slo={"goodput_ms": 2000})
    latency = record["latency"]
    # Failures first, by kind: once (CI, 2026-12-06) 8 of 56 requests were not good, and
    # nothing said what they were.
    assert latency["failures"] == 0, latency["failure_kinds"]
    assert latency["requests"] > 0 and latency["good"] == latency["requests"], latency
