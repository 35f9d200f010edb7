"""A generative request block (openai_chat, openai_completions): the schema's and the checks'
refusals name the key, the path defaults by kind, and the bodies are what the server expects."""

import json
from pathlib import Path

import pytest

from harness import locust_module
from harness.matrix import MatrixError, load_matrix

payloads = locust_module("payloads")
SIZE = {"mean": 8}


def matrix_with(tmp_path: Path, **request: object) -> Path:
    prompts = tmp_path / "prompts.jsonl"
    if not prompts.exists():
        prompts.write_text('{"prompt": "one two three"}\n{"prompt": "four", "max_tokens": 3}\n')
    data = {
        "num_models_list": [1],
        "num_users_list": [1],
        "spawn_rate_list": [1],
        "run_time": "5s",
        "host": "http://127.0.0.1:8000",
        "request": {"body": "openai_chat", "prompts": str(prompts), **request},
    }
    path = tmp_path / "matrix.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("request_keys", "message"),
    [
        ({"body": "openai_embeddings"}, r"request\.body: \"openai_embeddings\" is not allowed"),
        ({"stream": "yes"}, r"request\.stream: \"yes\" is not of type boolean"),
        ({"max_tokens": 0}, r"request\.max_tokens: 0 is out of range"),
        ({"seed": -1}, r"request\.seed: -1 is out of range"),
        ({"stall_timeout_s": 0}, r"request\.stall_timeout_s: 0 is out of range"),
        ({"stall_timeout_s": 120}, r"request\.stall_timeout_s: 120 is out of range"),
        ({"extra_body": [1]}, r"request\.extra_body: \[1\] is not of type object"),
        ({"model": ""}, r"request\.model: \"\" is not valid"),
        ({"prompts": {"synthetic": {"input_tokens": 100}}}, r"request\.prompts: .* type string"),
        ({"synthetic": True}, r"request\.synthetic: true is not of type object"),
        (
            {"synthetic": {"input_tokens": {"mean": 10}}},
            r"request\.synthetic\.output_tokens: missing",
        ),
        (
            {"synthetic": {"input_tokens": {"mean": 10, "median": 9}, "output_tokens": SIZE}},
            r"request\.synthetic\.input_tokens\.median: unknown key",
        ),
        (
            {"synthetic": {"input_tokens": {"stddev": 1}, "output_tokens": SIZE}},
            r"request\.synthetic\.input_tokens\.mean: missing",
        ),
        (
            {"synthetic": {"input_tokens": SIZE, "output_tokens": {"mean": 9, "stddev": -1}}},
            r"request\.synthetic\.output_tokens\.stddev: -1 is out of range",
        ),
        (
            {"synthetic": {"input_tokens": {"mean": 9, "min": 0}, "output_tokens": SIZE}},
            r"request\.synthetic\.input_tokens\.min: 0 is out of range",
        ),
        ({"tokenizer": ""}, r"request\.tokenizer: \"\" is not valid"),
    ],
)
def test_a_bad_value_names_its_key(tmp_path: Path, request_keys: dict, message: str) -> None:
    with pytest.raises(MatrixError, match=rf"^matrix\.json: {message}"):
        load_matrix(matrix_with(tmp_path, **request_keys))


def test_a_generative_kind_needs_its_prompts(tmp_path: Path) -> None:
    path = matrix_with(tmp_path)
    data = json.loads(path.read_text())
    del data["request"]["prompts"]
    path.write_text(json.dumps(data))
    with pytest.raises(MatrixError, match=r"^matrix\.json: request\.prompts: missing.*synthetic"):
        load_matrix(path)


def synthetic_matrix(tmp_path: Path, **request: object) -> Path:
    """A matrix of the request keys given, with no prompts file unless they name one."""
    path = matrix_with(tmp_path, **request)
    if "prompts" in request:
        return path
    data = json.loads(path.read_text())
    del data["request"]["prompts"]
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("request_keys", "message"),
    [
        (
            {"prompts": "p.jsonl", "synthetic": {"input_tokens": SIZE, "output_tokens": SIZE}},
            r"request\.synthetic: given with prompts",
        ),
        (
            {"synthetic": {"input_tokens": {"mean": 10, "min": 20}, "output_tokens": SIZE}},
            r"request\.synthetic\.input_tokens: min 20, mean 10 are out of order",
        ),
        (
            {"synthetic": {"input_tokens": SIZE, "output_tokens": {"mean": 10, "max": 9}}},
            r"request\.synthetic\.output_tokens: min 1, mean 10, max 9 are out of order",
        ),
        (
            {"synthetic": {"input_tokens": SIZE, "output_tokens": SIZE}, "tokenizer": "none.json"},
            r"request\.tokenizer: .*none\.json cannot be loaded",
        ),
    ],
)
def test_what_the_schema_cannot_say_of_synthetic_prompts_names_the_key(
    tmp_path: Path, request_keys: dict, message: str
) -> None:
    with pytest.raises(MatrixError, match=rf"^matrix\.json: {message}"):
        load_matrix(synthetic_matrix(tmp_path, **request_keys))


def test_a_tokenizer_that_is_no_tokenizer_names_the_key(tmp_path: Path) -> None:
    tokenizer = tmp_path / "tokenizer.json"
    tokenizer.write_text('{"not": "a tokenizer"}')
    synthetic = {"input_tokens": SIZE, "output_tokens": SIZE}
    path = synthetic_matrix(tmp_path, synthetic=synthetic, tokenizer=str(tokenizer))
    with pytest.raises(MatrixError, match=r"^matrix\.json: request\.tokenizer: .*cannot be loaded"):
        load_matrix(path)


def test_the_cli_exits_2_naming_a_synthetic_size_out_of_order(workspace) -> None:
    synthetic = {"input_tokens": {"mean": 5, "max": 4}, "output_tokens": SIZE}
    workspace.matrix.write_text(synthetic_matrix(workspace.root, synthetic=synthetic).read_text())
    result = workspace.run("inv", "sweep", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: request.synthetic.input_tokens: " in result.stdout


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, r"cannot be read \(FileNotFoundError\)"),
        ('{"prompt": "fine"}\n{"text": "no prompt"}\n', "line 2 has no string prompt"),
        ('{"prompt": "fine"}\nnot json\n', "line 2 is not JSON"),
        ('{"prompt": "x", "max_tokens": 0}\n', "line 1: max_tokens 0 is not a positive integer"),
        ("", "holds no prompt"),
    ],
)
def test_a_bad_prompts_file_names_the_key_and_the_line(
    tmp_path: Path, content: str | None, problem: str
) -> None:
    prompts = tmp_path / "bad.jsonl"
    if content is not None:
        prompts.write_text(content)
    with pytest.raises(MatrixError, match=rf"^matrix\.json: request\.prompts: .*{problem}"):
        load_matrix(matrix_with(tmp_path, prompts=str(prompts)))


def test_the_cli_exits_2_on_a_bad_prompts_file(workspace) -> None:
    missing = workspace.root / "nowhere.jsonl"
    path = matrix_with(workspace.root, prompts=str(missing))
    workspace.matrix.write_text(path.read_text())
    result = workspace.run("inv", "sweep", timeout=60)
    assert result.returncode == 2
    assert "matrix.json: request.prompts: " in result.stdout
    assert not workspace.reports.exists()


def test_the_path_defaults_by_kind_and_the_body_is_the_servers(tmp_path: Path) -> None:
    matrix = load_matrix(
        matrix_with(tmp_path, model="m", max_tokens=9, extra_body={"ignore_eos": True})
    )
    chat = payloads.load_requests(matrix.request, matrix.images, Path("/"))
    assert chat.path == "/v1/chat/completions" and chat.generative == payloads.CHAT
    bodies = sorted((json.loads(one.body) for one in chat.payloads), key=lambda b: b["max_tokens"])
    assert bodies[1] == {
        "model": "m",
        "messages": [{"role": "user", "content": "one two three"}],
        "max_tokens": 9,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,
    }
    assert bodies[0]["max_tokens"] == 3  # the prompt's own
    completions = payloads.load_requests(
        {**matrix.request, "body": "openai_completions", "stream": False}, matrix.images, Path("/")
    )
    body = json.loads(completions.payloads[0].body)
    assert completions.path == "/v1/completions" and body["prompt"] == "one two three"
    assert body["stream"] is False and "stream_options" not in body
    image = load_matrix(matrix_with(tmp_path, body="multipart"))
    assert payloads.load_requests(image.request, image.images, Path("/")).path == "/predict"


def test_prompts_are_drawn_the_same_for_the_same_seed(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.csv"
    prompts.write_text("prompt,max_tokens\n" + "".join(f"p{n},\n" for n in range(20)))
    spec = {"body": "openai_completions", "prompts": str(prompts)}

    def draws(seed: int) -> list[str]:
        requests = payloads.load_requests({**spec, "seed": seed}, Path("/"), Path("/"))
        return [requests.pick().name for _ in range(30)]

    assert draws(1) == draws(1) != draws(2)
