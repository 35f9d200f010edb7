"""The request a load test sends, from the matrix's `request` block, and whether an answer counts.

Plain Python, no Locust: the built-in locustfile sends what `Requests.payload` builds, and the
harness's warm-up (harness/run/warmup.py) sends the same, so the stack meets one kind of request.
Each body is built once per image, or per prompt for a generative kind (an OpenAI-compatible
chat or completions request, whose answer locust/sse.py reads), when the test starts, so the
load generator spends its CPU on sending, not on encoding; only a trace's arrival that carries
its own prompt or sizes (locust/schedules.py) is built as it is sent. The prompts come from a
file, or are synthetic: cut from CORPUS to a length in tokens drawn with the seed, counted by
the matrix's tokenizer file (Hugging Face `tokenizers`' format), else by whitespace words.

A failure's message starts with its kind ("HTTP 503", "not JSON", "missing keys", "no answer
(ConnectionResetError)"), before a colon: the recorder counts the failures by kind
(locust/recorder.py).
"""

import base64
import csv
import json
import math
import mimetypes
import random
from dataclasses import dataclass
from pathlib import Path

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp")
BOUNDARY = "loadbench-8f3c2a1e"
CHAT, COMPLETIONS = "openai_chat", "openai_completions"
# Where each kind of request goes unless the matrix says `path`.
DEFAULT_PATHS = {CHAT: "/v1/chat/completions", COMPLETIONS: "/v1/completions"}
IMAGE_PATH = "/predict"
# Public-domain text (docs/llm.md says whence) that synthetic prompts are cut from; beside this
# file, so the Locust image has it too.
CORPUS = Path(__file__).with_name("corpus.txt")
SYNTHETIC_PROMPTS = 1000  # drawn once at the start; each request one of them at random


@dataclass(frozen=True)
class Payload:
    """One image as the stack takes it."""

    name: str
    headers: dict[str, str]
    body: bytes


def read_images(folder: Path) -> dict[str, bytes]:
    """Every image of the folder, read once; a folder without one is an error naming it."""
    images = {
        path.name: path.read_bytes()
        for path in sorted(folder.iterdir())
        if path.suffix.lower() in IMAGE_SUFFIXES
    }
    if not images:
        raise ValueError(f"no image ({', '.join(IMAGE_SUFFIXES)}) in {folder}")
    return images


@dataclass(frozen=True)
class Prompt:
    text: str
    max_tokens: int | None  # None: the request block's max_tokens


def read_prompts(path: Path) -> list[Prompt]:
    """The prompts of a JSONL file (one object a line) or a CSV file (a header row): each has a
    string `prompt` and may have a positive integer `max_tokens`. A ValueError names the line
    that has not."""
    text = path.read_text()
    if path.suffix.lower() == ".csv":
        rows = [(number, row) for number, row in enumerate(csv.DictReader(text.splitlines()), 2)]
    else:
        rows = [(number, _json_line(line, number)) for number, line in _lines(text)]
    prompts = [_prompt(row, number) for number, row in rows]
    if not prompts:
        raise ValueError("holds no prompt")
    return prompts


def _lines(text: str) -> list[tuple[int, str]]:
    return [(number, line) for number, line in enumerate(text.splitlines(), 1) if line.strip()]


def _json_line(line: str, number: int) -> dict:
    try:
        row = json.loads(line)
    except ValueError:
        raise ValueError(f"line {number} is not JSON") from None
    if not isinstance(row, dict):
        raise ValueError(f"line {number} is not a JSON object")
    return row


def _prompt(row: dict, number: int) -> Prompt:
    text, limit = row.get("prompt"), row.get("max_tokens")
    if not isinstance(text, str) or not text:
        raise ValueError(f"line {number} has no string prompt")
    if isinstance(limit, str):  # a CSV cell: text, and an empty one says nothing
        limit = int(limit) if limit.strip().isdigit() else limit.strip() or None
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 1):
        raise ValueError(f"line {number}: max_tokens {limit!r} is not a positive integer")
    return Prompt(text, limit)


class PromptText:
    """Prompts of a given length in tokens, cut from CORPUS (read as a loop) at a drawn token, and
    counted by the tokenizer file given (loaded here, so `tokenizers` is needed only then), else
    by whitespace-separated words."""

    def __init__(self, tokenizer: Path | None) -> None:
        text = CORPUS.read_text()
        self.tokenizer = None
        if tokenizer is None:
            self.pieces: list = text.split()
            self.join = " ".join
        else:
            from tokenizers import Tokenizer

            self.tokenizer = Tokenizer.from_file(str(tokenizer))
            self.pieces = self.tokenizer.encode(text, add_special_tokens=False).ids
            self.join = self.tokenizer.decode

    def tokens(self, text: str) -> int:
        """How many tokens the tokenizer makes of `text` (only with a tokenizer)."""
        return len(self.tokenizer.encode(text, add_special_tokens=False).ids)

    def cut(self, tokens: int, draw: random.Random) -> str:
        start, count = draw.randrange(len(self.pieces)), len(self.pieces)
        return self.join([self.pieces[(start + index) % count] for index in range(tokens)])


def drawn_length(spec: dict, draw: random.Random) -> int:
    """A length of the synthetic block's {mean, stddev, min, max}: normal, clipped, rounded."""
    low, high = spec.get("min", 1), spec.get("max", math.inf)
    value = draw.gauss(spec["mean"], spec["stddev"]) if spec.get("stddev") else spec["mean"]
    return round(min(max(value, low), high))


def synthetic_prompts(spec: dict, text: PromptText, seed: int) -> list[Prompt]:
    """SYNTHETIC_PROMPTS prompts of the request block's `synthetic` sizes, drawn with `seed`."""
    # Streams of their own (the draw per request, Requests.draw, takes the seed as is), the
    # lengths apart from the text: a seed draws the same lengths whatever counts the tokens.
    lengths, starts = random.Random(f"lengths {seed}"), random.Random(f"text {seed}")
    sizes, prompts = spec["synthetic"], []
    for _ in range(SYNTHETIC_PROMPTS):
        tokens = drawn_length(sizes["input_tokens"], lengths)
        max_tokens = drawn_length(sizes["output_tokens"], lengths)
        prompts.append(Prompt(text.cut(tokens, starts), max_tokens))
    return prompts


def _media_type(name: str) -> str:
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class Requests:
    """The matrix's `request` block (defaults filled in by its schema, the path by the kind),
    ready to send: images for an image kind, prompts for a generative one."""

    def __init__(
        self,
        spec: dict,
        images: dict[str, bytes],
        prompts: list[Prompt],
        text: PromptText | None = None,
    ) -> None:
        body = spec.get("body", "multipart")
        self.generative = body if body in DEFAULT_PATHS else None
        self.method = spec.get("method", "POST")
        self.path = spec.get("path") or DEFAULT_PATHS.get(body, IMAGE_PATH)
        expect = spec.get("expect") or {}
        self.expected_status = expect.get("status", 200)
        self.expected_keys = tuple(expect.get("keys", ()))
        self.stream = spec.get("stream", True)
        self.stall_timeout_s = spec.get("stall_timeout_s", 30.0)
        self.spec, self.prompts, self.text = spec, prompts, text
        # An answer without usage has its output tokens counted by the matrix's tokenizer.
        self.count_tokens = text.tokens if text is not None and text.tokenizer else None
        if self.generative:
            self.payloads = [
                self._generation(f"prompt {index + 1}", one) for index, one in enumerate(prompts)
            ]
        else:
            self.payloads = [self._payload(spec, name, data) for name, data in images.items()]
        self.by_name = {payload.name: payload for payload in self.payloads}
        # Prompts are drawn from a generator of their own, seeded: a run draws the same ones.
        self.draw = random.Random(spec.get("seed", 0))

    def _generation(self, name: str, prompt: Prompt) -> Payload:
        spec = self.spec
        body: dict = {"model": spec["model"]} if "model" in spec else {}
        if spec["body"] == CHAT:
            body["messages"] = [{"role": "user", "content": prompt.text}]
        else:
            body["prompt"] = prompt.text
        max_tokens = prompt.max_tokens or spec.get("max_tokens")
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        body["stream"] = spec.get("stream", True)
        if body["stream"]:
            body["stream_options"] = {"include_usage": True}
        body.update(spec.get("extra_body") or {})
        # Uncompressed: a compressed stream would arrive in the compressor's blocks, not chunks.
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        return Payload(name, headers, json.dumps(body).encode())

    @staticmethod
    def _payload(spec: dict, name: str, data: bytes) -> Payload:
        body = spec.get("body", "multipart")
        if body == "multipart":
            field = spec.get("field", "file")
            head = (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}";'
                f' filename="{name}"\r\nContent-Type: {_media_type(name)}\r\n\r\n'
            )
            content = head.encode() + data + f"\r\n--{BOUNDARY}--\r\n".encode()
            kind = f"multipart/form-data; boundary={BOUNDARY}"
        elif body == "raw":
            content, kind = data, spec.get("content_type") or _media_type(name)
        elif body == "json_base64":
            content, kind = json.dumps({spec.get("key", "image"): _b64(data)}).encode(), None
        elif body == "kserve_v2":
            tensor = {
                "name": spec.get("input", "input"),
                "shape": [1],
                "datatype": "BYTES",
                "data": [_b64(data)],
            }
            content, kind = json.dumps({"inputs": [tensor]}).encode(), None
        else:
            raise ValueError(f"request.body: {body!r} is not a body kind")
        return Payload(name, {"Content-Type": kind or "application/json"}, content)

    def pick(self, name: object = None) -> Payload:
        """The image named (KeyError naming it where the folder has none), or what a trace's
        arrival asks (a schedules.TracedPrompt: that module is loaded apart), else any."""
        if name is None:
            return (self.draw if self.generative else random).choice(self.payloads)
        if not isinstance(name, str):
            return self._traced(name)
        try:
            return self.by_name[name]
        except KeyError:
            raise KeyError(f"no image {name!r} in the run's image folder") from None

    def _traced(self, asked) -> Payload:
        """An arrival's own prompt, or one of its size cut from the text, else one of the
        block's drawn; with its own max_tokens where it gives them."""
        if asked.prompt is not None:
            prompt = Prompt(asked.prompt, None)
        elif asked.input_tokens is not None:
            prompt = Prompt(self.text.cut(asked.input_tokens, self.draw), None)
        else:
            prompt = self.draw.choice(self.prompts)
        max_tokens = asked.output_tokens or prompt.max_tokens
        return self._generation("traced prompt", Prompt(prompt.text, max_tokens))

    def problem(self, status: int, body: bytes, error: BaseException | None = None) -> str | None:
        """Why an answer is not a success ("<kind>: <detail>"), or None when it is one."""
        if status == 0:  # no answer at all: `error` says why
            return f"no answer ({type(error).__name__ if error else 'connection failed'}): {error}"
        if status != self.expected_status:
            return f"HTTP {status}: {body[:200].decode(errors='replace')}"
        # A generative answer is judged as it is read (locust/sse.py), chunk by chunk.
        if self.generative or not self.expected_keys:
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            return f"not JSON: {body[:200].decode(errors='replace')}"
        if not isinstance(answer, dict):
            return f"not a JSON object: {body[:200].decode(errors='replace')}"
        missing = [key for key in self.expected_keys if key not in answer]
        if missing:
            return f"missing keys: {', '.join(missing)} in {body[:200].decode(errors='replace')}"
        return None


def load_requests(spec: dict, images: Path, root: Path) -> Requests:
    """The requests of the block, reading what its kind needs: the folder's images, or the
    prompts file or synthetic prompts (the files' paths relative to `root`, the repository)."""
    if spec.get("body") not in DEFAULT_PATHS:
        return Requests(spec, read_images(images), [])
    text = PromptText(root / spec["tokenizer"] if "tokenizer" in spec else None)
    if "synthetic" in spec:
        prompts = synthetic_prompts(spec, text, spec.get("seed", 0))
    else:
        prompts = read_prompts(root / spec["prompts"])
    return Requests(spec, {}, prompts, text)
