"""The reading of an OpenAI-compatible answer (locust/sse.py) on hand-made streams, each line
with its arrival time: TTFT from the first content, ITL and TPOT per token, tokens from usage
wherever it comes, else by chunk, and every bad stream a failure of its kind."""

import json

import pytest

from harness import locust_module

sse = locust_module("sse")


def line(at: float, event: dict | str) -> tuple[float, bytes]:
    text = event if isinstance(event, str) else json.dumps(event)
    return at, f"data: {text}\n".encode()


def delta(text: str) -> dict:
    return {"choices": [{"index": 0, "delta": {"content": text}}]}


ROLE = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
USAGE = {"prompt_tokens": 7, "completion_tokens": 12}


def test_a_role_only_chunk_is_no_token_and_usage_with_choices_counts_every_token():
    # 3 chunks of 4 tokens at 100, 140, 180 ms; usage rides on the last, as LitServe sends it.
    lines = [
        line(1.010, ROLE),
        (1.011, b"\n"),
        line(1.100, delta("a b c d")),
        line(1.140, delta("e f g h")),
        line(1.180, {**delta("i j k l"), "usage": USAGE}),
        line(1.200, "[DONE]"),
    ]
    generation = sse.read_stream(lines, chat=True, started=1.0)
    assert generation.problem is None and generation.streamed
    assert generation.ttft_s == pytest.approx(0.100)
    assert generation.e2e_s == pytest.approx(0.200)
    assert (generation.output_tokens, generation.input_tokens) == (12, 7)
    assert generation.token_source == "usage"
    assert generation.itl_s == pytest.approx(0.080 / 11)  # per token, not per chunk
    assert generation.tpot_s == pytest.approx(0.100 / 11)
    # Every gap between content chunks, the role-only chunk and the usage-only tail aside.
    assert generation.chunk_gaps_s == pytest.approx((0.040, 0.040))


def test_a_stall_mid_stream_shows_in_its_chunk_gaps_and_is_spread_thin_in_itl():
    lines = [line(1.0 + 0.01 * n, delta("x")) for n in range(1, 10)]
    lines += [line(1.59 + 0.01 * n, delta("x")) for n in range(1, 11)]  # 500 ms of nothing
    generation = sse.read_stream([*lines, line(1.8, "[DONE]")], chat=True, started=1.0)
    assert max(generation.chunk_gaps_s) == pytest.approx(0.510)
    assert len(generation.chunk_gaps_s) == 18
    assert generation.itl_s == pytest.approx((1.69 - 1.01) / 18)  # 38 ms: the stall spread thin


def test_usage_in_a_chunk_without_choices_and_completions_text():
    lines = [
        line(0.05, {"choices": [{"text": "x"}]}),
        line(0.06, {"choices": [{"text": ""}]}),  # empty text: no token
        line(0.07, {"choices": [{"text": "y"}]}),
        line(0.08, {"choices": [], "usage": {"prompt_tokens": 3, "completion_tokens": 2}}),
        line(0.09, "[DONE]"),
    ]
    generation = sse.read_stream(lines, chat=False, started=0.0)
    assert generation.problem is None
    assert (generation.output_tokens, generation.token_source) == (2, "usage")
    assert generation.itl_s == pytest.approx(0.02)


def test_without_usage_a_tokenizer_counts_the_answers_text():
    lines = [line(1.1, delta("a b c d ")), line(1.2, delta("e f g")), line(1.3, "[DONE]")]
    generation = sse.read_stream(lines, True, 1.0, count_tokens=lambda text: len(text.split()))
    assert (generation.output_tokens, generation.token_source) == (7, "tokenizer")
    assert generation.itl_s == pytest.approx(0.100 / 6)  # per token counted, not per chunk


def test_without_usage_each_content_chunk_counts_as_one_token():
    lines = [
        line(0.1, delta("a b")),
        (0.1, b": keep-alive\n"),
        line(0.3, delta("c d")),
        line(0.4, "[DONE]"),
    ]
    generation = sse.read_stream(lines, chat=True, started=0.0)
    assert (generation.output_tokens, generation.token_source) == (2, "chunks")
    assert generation.input_tokens is None
    assert generation.itl_s == pytest.approx(0.2)


def test_one_token_has_no_itl_nor_tpot():
    generation = sse.read_stream([line(0.1, delta("a")), line(0.2, "[DONE]")], True, 0.0)
    assert generation.output_tokens == 1 and generation.itl_s is None is generation.tpot_s


@pytest.mark.parametrize(
    ("lines", "kind"),
    [
        ([(0.1, b'{"object": "chat.completion"}')], "not SSE"),
        ([(0.1, b"data: {not json\n")], "not JSON"),
        (
            [line(0.1, delta("a")), line(0.2, {"error": {"message": "out of memory"}})],
            "error answer",
        ),
        ([line(0.1, delta("a"))], "stream cut"),
        ([], "stream cut"),
    ],
)
def test_a_bad_stream_is_a_failure_of_its_kind(lines, kind):
    generation = sse.read_stream(lines, chat=True, started=0.0)
    assert generation.problem.split(":", 1)[0] == kind


def test_a_broken_stream_keeps_the_tokens_it_received():
    def lines():
        yield line(0.1, delta("a"))
        yield line(0.2, delta("b"))
        raise sse.StreamBroken(1.2, "stalled: no data for 1 s")

    generation = sse.read_stream(lines(), chat=True, started=0.0)
    assert generation.problem == "stalled: no data for 1 s"
    assert (generation.output_tokens, generation.e2e_s) == (2, 1.2)


def test_a_whole_answer_has_its_latency_as_ttft():
    body = json.dumps({"choices": [{"message": {"content": "hi there"}}], "usage": USAGE})
    generation = sse.read_whole(body.encode(), chat=True, started=2.0, ended=2.5)
    assert generation.ttft_s == generation.e2e_s == pytest.approx(0.5)
    assert (generation.output_tokens, generation.streamed) == (12, False)
    assert generation.tpot_s == 0.0


def test_an_answer_judged_whole_as_the_warm_up_reads_it():
    body = b"data: " + json.dumps(delta("a")).encode() + b"\n\ndata: [DONE]\n\n"
    assert sse.judged(body, chat=True, streamed=True) is None
    assert sse.judged(b"data: [DONE]", chat=True, streamed=True) is None
    assert sse.judged(b'{"error": "busy"}', chat=True, streamed=False).startswith("error answer")
