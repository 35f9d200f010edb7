"""Synthetic prompts (`request.synthetic`) and a trace's prompts (`prompt`, `input_tokens`,
`output_tokens` per arrival): their sizes are drawn as the matrix says, counted by the tokenizer
it names or by words, refused with a message naming the key where they cannot be sent, and they
arrive at a real server as drawn (tests/standin/llm_server.py counts a prompt's words)."""

import json
import statistics
from pathlib import Path

import pytest

from harness import locust_module
from harness.matrix import MatrixError, load_matrix

payloads = locust_module("payloads")
schedules = locust_module("schedules")

INPUT = {"mean": 40, "stddev": 10, "min": 25, "max": 60}
OUTPUT = {"mean": 8, "stddev": 2, "min": 4, "max": 12}


def synthetic_requests(seed: int = 0, tokenizer: Path | None = None, **sizes) -> object:
    spec = {
        "body": "openai_completions",
        "seed": seed,
        "synthetic": {"input_tokens": INPUT, "output_tokens": OUTPUT, **sizes},
    }
    if tokenizer is not None:
        spec["tokenizer"] = str(tokenizer)
    return payloads.load_requests(spec, Path("/"), Path("/"))


def sizes(requests, count=len) -> list[tuple[int, int]]:
    bodies = [json.loads(payload.body) for payload in requests.payloads]
    return [(count(body["prompt"]), body["max_tokens"]) for body in bodies]


def words(text: str) -> int:
    return len(text.split())


def test_synthetic_lengths_are_a_clipped_normal_counted_in_words_without_a_tokenizer():
    drawn = sizes(synthetic_requests(), words)
    inputs, outputs = [size for size, _ in drawn], [size for _, size in drawn]
    assert len(drawn) == payloads.SYNTHETIC_PROMPTS
    assert INPUT["min"] <= min(inputs) and max(inputs) <= INPUT["max"]
    assert OUTPUT["min"] <= min(outputs) and max(outputs) <= OUTPUT["max"]
    # Normal(40, 10) clipped to [25, 60] and rounded has mean 40.2 and σ 9.2 (the clipped
    # mass sits at the bounds); a sample of 1000 within 3.5 standard errors of them.
    assert statistics.fmean(inputs) == pytest.approx(40.2, abs=1.0)
    assert statistics.stdev(inputs) == pytest.approx(9.2, abs=0.7)
    assert any(size == INPUT["min"] for size in inputs)
    assert statistics.fmean(outputs) == pytest.approx(OUTPUT["mean"], abs=0.2)


def test_a_zero_stddev_is_a_constant_and_a_seed_draws_the_same_prompts():
    constant = synthetic_requests(input_tokens={"mean": 17}, output_tokens={"mean": 3})
    assert set(sizes(constant, words)) == {(17, 3)}
    first, again, other = synthetic_requests(1), synthetic_requests(1), synthetic_requests(2)
    assert [one.body for one in first.payloads] == [one.body for one in again.payloads]
    assert [one.body for one in first.payloads] != [one.body for one in other.payloads]
    assert [first.pick().name for _ in range(20)] == [again.pick().name for _ in range(20)]


def test_with_a_tokenizer_file_each_prompt_has_its_drawn_tokens(tmp_path):
    pytest.importorskip("tokenizers", reason="the harness extra (make setup) brings it")
    from tokenizers import Tokenizer

    build = pytest.importorskip("examples.llm.build", reason="the examples extra builds it")
    path = tmp_path / "tokenizer.json"
    build.train_tokenizer().save(str(path))
    tokenizer = Tokenizer.from_file(str(path))

    def tokens(text: str) -> int:
        return len(tokenizer.encode(text, add_special_tokens=False).ids)

    # The same draws as without one: only the counting differs.
    by_tokens = sizes(synthetic_requests(tokenizer=path), tokens)
    by_words = sizes(synthetic_requests(), words)
    assert by_tokens == by_words
    # Tokens, not words: the example's tokenizer cuts a word into about two.
    text = json.loads(synthetic_requests(tokenizer=path).payloads[0].body)["prompt"]
    assert words(text) < tokens(text)


def test_a_traces_arrivals_carry_prompts_and_sizes(tmp_path):
    csv_trace = tmp_path / "trace.csv"
    csv_trace.write_text(
        "t,prompt,input_tokens,output_tokens\n0.5,hello there,,7\n0.0,,12,\n1.0,,,5\n2.0,,,\n"
    )
    Traced = schedules.TracedPrompt
    assert schedules.read_trace(csv_trace, 1.0) == [
        (0.0, Traced(None, 12, None)),
        (0.5, Traced("hello there", None, 7)),
        (1.0, Traced(None, None, 5)),
        (2.0, None),
    ]
    lines = tmp_path / "trace.jsonl"
    lines.write_text('{"t": 1, "input_tokens": 3, "output_tokens": 4}\n{"t": 0, "image": "a"}\n')
    assert schedules.read_trace(lines, 1.0) == [(0.0, "a"), (1.0, Traced(None, 3, 4))]


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ('{"t": 0, "image": "cat.jpg", "prompt": "hi"}', "arrival 1 names an image and a prompt"),
        ('{"t": 0, "prompt": "hi", "input_tokens": 3}', "arrival 1 gives a prompt and input"),
        ('{"t": 0, "output_tokens": 0}', "arrival 1: output_tokens 0 is not a positive integer"),
        ('{"t": 0, "input_tokens": "many"}', "input_tokens 'many' is not a positive integer"),
        ('{"t": 0, "prompt": 7}', "arrival 1: prompt is not text"),
    ],
)
def test_a_traced_prompt_that_cannot_be_sent_names_the_arrival(tmp_path, row, problem):
    trace = tmp_path / "trace.jsonl"
    trace.write_text(row + "\n")
    with pytest.raises(ValueError, match=problem):
        schedules.read_trace(trace, 1.0)


def test_an_arrival_sends_its_prompt_or_one_of_its_size_with_its_max_tokens(tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "from the file", "max_tokens": 2}\n')
    spec = {"body": "openai_chat", "prompts": str(prompts), "max_tokens": 9, "model": "m"}
    requests = payloads.load_requests(spec, Path("/"), Path("/"))
    Traced = schedules.TracedPrompt

    def sent(asked) -> tuple[str, int]:
        body = json.loads(requests.pick(asked).body)
        assert body["model"] == "m" and body["stream"] is True  # the block's, as every request
        return body["messages"][0]["content"], body["max_tokens"]

    assert sent(Traced("its own", None, 5)) == ("its own", 5)
    assert sent(Traced("its own", None, None)) == ("its own", 9)
    text, max_tokens = sent(Traced(None, 33, 4))
    assert words(text) == 33 and max_tokens == 4
    assert sent(Traced(None, None, 6)) == ("from the file", 6)


def trace_matrix(tmp_path: Path, trace_rows: str, **request) -> Path:
    trace = tmp_path / "trace.csv"
    trace.write_text(trace_rows)
    prompts = tmp_path / "prompts.jsonl"
    prompts.write_text('{"prompt": "one"}\n')
    data = {
        "num_models_list": [1],
        "run_time": "5s",
        "host": "http://127.0.0.1:8000",
        "shapes": {"day": {"trace": str(trace)}},
        "request": request or {"body": "openai_chat", "prompts": str(prompts)},
    }
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(data))
    return path


def test_a_trace_of_prompts_needs_a_generative_request_and_sends_no_image(tmp_path):
    prompted = "t,prompt\n0.1,hello\n"
    with pytest.raises(MatrixError, match=r"shapes\.day\.trace: gives prompts .* not generative"):
        load_matrix(trace_matrix(tmp_path, prompted, body="multipart"))
    with pytest.raises(MatrixError, match=r"shapes\.day\.trace: names images, but .* generative"):
        load_matrix(trace_matrix(tmp_path, "t,image\n0.1,cat.jpg\n"))
    with pytest.raises(MatrixError, match=r"shapes\.day\.trace: .*arrival 1: output_tokens"):
        load_matrix(trace_matrix(tmp_path, "t,output_tokens\n0.1,-2\n"))
    assert load_matrix(trace_matrix(tmp_path, prompted)).points


@pytest.mark.slow
def test_the_sizes_drawn_and_traced_arrive_at_the_server(workspace, local_matrix):
    """An open-loop run of synthetic prompts and a trace's, against the stand-in that counts a
    prompt's words: every stream arrived with a size the harness drew, or the trace gave."""
    arrivals_file = workspace.root / "arrivals.jsonl"
    procfile = workspace.root / "Procfile"
    procfile.write_text(
        "model: python -m tests.standin.llm_server --port ${API_PORT} --ttft-ms 5"
        f" --ttft-ms-per-token 0 --itl-ms 1 --arrivals-to {arrivals_file}\n"
    )
    # The trace's sizes lie outside the synthetic ones: each stream tells which run sent it.
    traced = [(100 + index, 1 + index % 5) for index in range(20)]
    trace = workspace.root / "trace.csv"
    trace.write_text(
        "t,prompt,input_tokens,output_tokens\n"
        + "".join(f"{index / 10},,{size},{out}\n" for index, (size, out) in enumerate(traced))
        + "2.0,a traced prompt,,3\n"
    )
    request = {
        "body": "openai_completions",
        "synthetic": {"input_tokens": INPUT, "output_tokens": OUTPUT},
    }
    matrix = {
        **local_matrix,
        "num_models_list": [1],
        "arrival_rate_list": [20],
        "run_time": "3s",
        "shapes": {"trace": {"trace": str(trace)}},
        "ceiling": False,
        "generator_floor": False,
        "warmup_requests": 2,
        "min_requests": 5,
        "stack": {"procfile": str(procfile), "metrics_path": None, "scale_service": None},
        "request": request,
    }
    for key in ("num_users_list", "spawn_rate_list"):
        matrix.pop(key)
    workspace.write_matrix(**matrix)
    result = workspace.run("inv", "sweep", "--models", "1")
    assert result.returncode == 0, result.stdout

    arrived = [json.loads(line) for line in arrivals_file.read_text().splitlines()]
    sizes_arrived = [(one["prompt_tokens"], one["max_tokens"]) for one in arrived]
    from_trace = sorted(size for size in sizes_arrived if size[0] >= 100 or size == (3, 3))
    assert from_trace == sorted([*traced, (3, 3)])
    drawn = set(sizes(payloads.load_requests(request, Path("/"), Path("/")), words))
    synthetic = [size for size in sizes_arrived if size not in from_trace]
    assert len(synthetic) >= 60 and set(synthetic) <= drawn
    record = json.loads((workspace.reports / "cpu" / "1_rate20.meta.json").read_text())
    assert record["stream"]["token_source"] == "usage"
    assert INPUT["min"] <= record["stream"]["input_tokens"]["mean"] <= INPUT["max"]
    replayed = json.loads((workspace.reports / "cpu" / "1_shape-trace.meta.json").read_text())
    assert replayed["latency"]["failures"] == 0
    assert replayed["stream"]["output_tokens"]["total"] == sum(out for _, out in from_trace)
