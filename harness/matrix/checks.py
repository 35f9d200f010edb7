"""What the schema cannot check in a matrix (keys that go together, files that must exist and
hold what they should), and the two things the matrix's data takes from outside itself: the
images folder and API_PORT."""

import os
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from harness import REPO_ROOT, locust_module
from harness.matrix.loads import parse_run_time
from harness.matrix.schema import MatrixError

SAMPLE_IMAGES = REPO_ROOT / "locust" / "images"
PAYLOADS = locust_module("payloads")
IMAGE_SUFFIXES = PAYLOADS.IMAGE_SUFFIXES


def images_folder(data: dict) -> Path:
    """The folder of images the requests carry: request.images, else the samples."""
    folder = data["request"].get("images")
    return SAMPLE_IMAGES if folder is None else REPO_ROOT / folder


def with_api_port(name: str, data: dict) -> dict:
    """API_PORT in the environment moves the API of `host` to that port (docs/matrix.md)."""
    port = os.environ.get("API_PORT", "").strip()
    if not port:
        return data
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise MatrixError(name, "host", f"API_PORT={port!r} is not a port", "1 to 65535")
    parsed = urlsplit(data["host"])
    moved = parsed._replace(netloc=f"{parsed.hostname}:{int(port)}")
    return {**data, "host": urlunsplit(moved)}


def check_semantics(name: str, data: dict) -> None:
    """What the schema cannot say about a matrix, checked: a MatrixError naming the key."""
    closed = [key for key in ("num_users_list", "spawn_rate_list") if key in data]
    if len(closed) == 1:
        other = ({"num_users_list", "spawn_rate_list"} - set(closed)).pop()
        raise MatrixError(
            name, other, f"missing beside {closed[0]}", "both, for closed-loop runs, or neither"
        )
    for key in ("run_time", "capacity.probe_time"):
        text = data["run_time"] if key == "run_time" else data["capacity"].get("probe_time")
        if text not in (None, "auto") and parse_run_time(text) == 0:
            raise MatrixError(name, key, f"{text!r} is zero", "a positive time span")
    if "max_run_time" in data and parse_run_time(data["max_run_time"]) < parse_run_time(
        data["run_time"]
    ):
        raise MatrixError(
            name,
            "max_run_time",
            f"{data['max_run_time']!r} is shorter than run_time",
            "at least run_time",
        )
    locustfile = REPO_ROOT / data["locustfile"]
    if not locustfile.is_file():
        raise MatrixError(
            name, "locustfile", f"{locustfile} does not exist", "a file in the repository"
        )
    images = images_folder(data)
    if not images.is_dir() or not any(
        path.suffix.lower() in IMAGE_SUFFIXES for path in images.iterdir()
    ):
        raise MatrixError(
            name,
            "request.images",
            f"{images} holds no image",
            f"a folder of {', '.join(IMAGE_SUFFIXES)} files, relative to the repository root",
        )
    _check_prompts(name, data["request"])
    _check_token_slo(name, data)
    if data.get("tune", {}).get("objective") == "cost" and "cost" not in data:
        raise MatrixError(
            name, "cost", "missing, and tune.objective is cost", "a cost block with replica_hour"
        )
    node_names = [node["name"] for node in data["stack"]["swarm"]["nodes"]]
    for index, node_name in enumerate(node_names):
        if node_name in node_names[:index]:
            raise MatrixError(
                name,
                f"stack.swarm.nodes[{index}].name",
                f"{node_name!r} is repeated",
                "each name once",
            )
    for stage, source in (data["stack"].get("stages") or {}).items():
        kinds = [key for key in ("metric", "sum") if key in source]
        if len(kinds) != 1 or ("sum" in source) != ("count" in source):
            raise MatrixError(
                name,
                f"stack.stages.{stage}",
                "names no metric to read",
                "either metric (a histogram or summary) or sum and count (two counters)",
            )


def _check_prompts(name: str, request: dict) -> None:
    """A generative request has one source of prompts: a file whose every line is a prompt, or
    synthetic sizes within their bounds; its tokenizer file loads (each read here as the load
    generator reads it)."""
    if request.get("body") not in PAYLOADS.DEFAULT_PATHS:
        return
    if "prompts" in request and "synthetic" in request:
        raise MatrixError(name, "request.synthetic", "given with prompts", "one of them")
    if "tokenizer" in request:
        _check_tokenizer(name, REPO_ROOT / request["tokenizer"])
    if "synthetic" in request:
        _check_sizes(name, request["synthetic"])
        return
    if "prompts" not in request:
        allowed = "prompts (a file of prompts) or synthetic (their sizes in tokens)"
        raise MatrixError(name, "request.prompts", "missing", allowed)
    path = REPO_ROOT / request["prompts"]
    allowed = (
        "a JSONL or CSV file, relative to the repository root, of objects with a string prompt"
    )
    try:
        PAYLOADS.read_prompts(path)
    except (OSError, UnicodeDecodeError) as error:
        problem = f"{path} cannot be read ({type(error).__name__})"
        raise MatrixError(name, "request.prompts", problem, allowed) from None
    except ValueError as error:
        raise MatrixError(name, "request.prompts", f"{path}: {error}", allowed) from None


def _check_tokenizer(name: str, path: Path) -> None:
    allowed = "a tokenizer.json of Hugging Face tokenizers, relative to the repository root"
    try:
        PAYLOADS.PromptText(path)
    except ImportError:
        problem = "needs the tokenizers package (the harness extra: make setup)"
        raise MatrixError(name, "request.tokenizer", problem, allowed) from None
    except Exception as error:  # the library's own error for a file it cannot read
        problem = f"{path} cannot be loaded ({type(error).__name__})"
        raise MatrixError(name, "request.tokenizer", problem, allowed) from None


def _check_sizes(name: str, synthetic: dict) -> None:
    for key, sizes in synthetic.items():
        low, mean, high = sizes["min"], sizes["mean"], sizes.get("max", sizes["mean"])
        if not low <= mean <= high:
            bounds = f"min {low}, mean {mean}" + (f", max {sizes['max']}" if "max" in sizes else "")
            problem = f"{bounds} are out of order"
            raise MatrixError(name, f"request.synthetic.{key}", problem, "min <= mean <= max")


def _check_token_slo(name: str, data: dict) -> None:
    """A TTFT or ITL threshold needs requests that have one: the built-in locustfile measures
    them for a generative body only (a locustfile of one's own may hand its own over)."""
    generative = data["request"].get("body") in PAYLOADS.DEFAULT_PATHS
    built_in = REPO_ROOT / data["locustfile"] == REPO_ROOT / "locust" / "locustfile.py"
    for key in ("ttft_ms", "itl_ms"):
        if key in data["slo"] and built_in and not generative:
            raise MatrixError(
                name,
                f"slo.{key}",
                "set, but the requests are not generative: they have no tokens to time",
                "request.body openai_chat or openai_completions, or no such threshold",
            )
