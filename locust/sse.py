"""An OpenAI-compatible answer (chat or completions), streamed or whole, read into one request's
figures: time to first token (TTFT), inter-token latency (ITL), time per output token (TPOT),
tokens in and out.

Plain Python, no Locust: the built-in locustfile feeds it each line of the stream with its
arrival time, the harness's warm-up a whole answer, and tests hand-made streams. A streamed
answer is server-sent events: lines `data: {json}`, the last `data: [DONE]`. Times are seconds on
one clock, counted from `started`: the send in a closed loop, the scheduled send in an open one.

The definitions are vLLM's and AIPerf's: TTFT ends at the first chunk that carries content (a
role-only chunk is not a token); ITL = (last content chunk − first) / (output tokens − 1); TPOT =
(end-to-end − TTFT) / (output tokens − 1). Every gap between two content chunks is kept too:
a stall in the middle of a stream shows there, where ITL, a mean over the stream, spreads it
thin. Output tokens come from the server's `usage`, read
from whichever chunk carries it; without usage, from the matrix's tokenizer where it names one
(the answer's text counted), else each content chunk counts as one token, which undercounts a
server that sends several tokens a chunk, so the source is kept beside the count.

A failure's text starts with its kind, before a colon, as locust/payloads.py's do: "not SSE",
"not JSON", "error answer" (an `{"error": ...}` object), "stream cut" (no `[DONE]`), "stalled".
"""

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass

DONE = "[DONE]"
SSE_FIELDS = ("data", "event", "id", "retry")
USAGE, TOKENIZER, CHUNKS = "usage", "tokenizer", "chunks"


class StreamBroken(Exception):
    """The stream ended early at `at` (cut, stalled); the text is the failure, kind first."""

    def __init__(self, at: float, failure: str) -> None:
        super().__init__(failure)
        self.at = at


@dataclass(frozen=True)
class Generation:
    """One request's figures, in seconds from its (scheduled) send."""

    ttft_s: float | None  # None: no content came
    last_content_s: float | None
    e2e_s: float
    output_tokens: int  # received, a failed stream's included
    input_tokens: int | None  # only the server's usage says it
    token_source: str  # USAGE, TOKENIZER or CHUNKS
    streamed: bool
    problem: str | None  # "<kind>: <detail>", None for a success
    chunk_gaps_s: tuple[float, ...] = ()  # between each content chunk and the one before it

    @property
    def itl_s(self) -> float | None:
        if self.output_tokens < 2 or self.ttft_s is None or self.last_content_s is None:
            return None
        return (self.last_content_s - self.ttft_s) / (self.output_tokens - 1)

    @property
    def tpot_s(self) -> float | None:
        if self.output_tokens < 2 or self.ttft_s is None:
            return None
        return (self.e2e_s - self.ttft_s) / (self.output_tokens - 1)


class _Tally:
    """What the answer has said so far."""

    def __init__(self, chat: bool, started: float, count_tokens: Callable[[str], int] | None):
        self.chat = chat
        self.started = started
        self.count_tokens = count_tokens
        self.text: list[str] = []  # kept only where a tokenizer counts it
        self.first_content: float | None = None
        self.last_content: float | None = None
        self.content_chunks = 0
        self.chunk_gaps: list[float] = []
        self.usage: tuple[int, int | None] | None = None  # (completion, prompt) tokens

    def take(self, event: dict, at: float, whole: bool) -> str | None:
        """One JSON event of the answer; the failure it is, if any."""
        if "error" in event:
            return f"error answer: {json.dumps(event['error'])[:200]}"
        usage = event.get("usage")
        if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
            prompt = usage.get("prompt_tokens")
            self.usage = (usage["completion_tokens"], prompt if isinstance(prompt, int) else None)
        text = _content(event, self.chat, whole)
        if text is not None:
            if self.count_tokens is not None:
                self.text.append(text)
            self.content_chunks += 1
            if self.last_content is not None:
                self.chunk_gaps.append(at - self.last_content)
            self.first_content = self.first_content if self.first_content is not None else at
            self.last_content = at
        return None

    def figures(self, ended: float, streamed: bool, problem: str | None) -> Generation:
        since = self.started
        if self.usage:
            output, source = self.usage[0], USAGE
        elif self.count_tokens is not None:
            output, source = self.count_tokens("".join(self.text)), TOKENIZER
        else:
            output, source = self.content_chunks, CHUNKS
        return Generation(
            ttft_s=None if self.first_content is None else self.first_content - since,
            last_content_s=None if self.last_content is None else self.last_content - since,
            e2e_s=ended - since,
            output_tokens=output,
            input_tokens=self.usage[1] if self.usage else None,
            token_source=source,
            streamed=streamed,
            problem=problem,
            chunk_gaps_s=tuple(self.chunk_gaps),
        )


def _content(event: dict, chat: bool, whole: bool) -> str | None:
    """The generated text the event carries, None for none (a streamed chat chunk has it in
    `delta`, a whole chat answer in `message`, completions in `text`)."""
    choices = event.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    if chat:
        holder = choices[0].get("message" if whole else "delta")
        text = holder.get("content") if isinstance(holder, dict) else None
    else:
        text = choices[0].get("text")
    return text if isinstance(text, str) and text != "" else None


def read_stream(
    lines: Iterable[tuple[float, bytes]],
    chat: bool,
    started: float,
    count_tokens: Callable[[str], int] | None = None,
) -> Generation:
    """A streamed answer from its lines and their arrival times. `lines` may raise StreamBroken
    (cut, stalled): what came before it still counts. `count_tokens` counts the answer's output
    tokens where the server sends no usage."""
    tally = _Tally(chat, started, count_tokens)
    ended, problem, done = started, None, False
    try:
        for at, raw in lines:
            ended = at
            line = raw.decode(errors="replace").rstrip("\r\n")
            if not line or line.startswith(":"):  # an event's end, or a comment (keep-alive)
                continue
            field, _, value = line.partition(":")
            if field not in SSE_FIELDS:
                problem = f"not SSE: {line[:200]}"
                break
            value = value.removeprefix(" ")
            if field != "data":
                continue
            if value == DONE:
                done = True
                break
            problem = _event_problem(tally, value, at, whole=False)
            if problem is not None:
                break
    except StreamBroken as broken:
        ended, problem = broken.at, str(broken)
    if problem is None and not done:
        problem = "stream cut: the answer ended before data: [DONE]"
    return tally.figures(ended, streamed=True, problem=problem)


def read_whole(
    body: bytes,
    chat: bool,
    started: float,
    ended: float,
    count_tokens: Callable[[str], int] | None = None,
) -> Generation:
    """A whole (not streamed) answer: its TTFT is its end-to-end latency."""
    tally = _Tally(chat, started, count_tokens)
    problem = _event_problem(tally, body.decode(errors="replace"), ended, whole=True)
    return tally.figures(ended, streamed=False, problem=problem)


def _event_problem(tally: _Tally, text: str, at: float, whole: bool) -> str | None:
    try:
        event = json.loads(text)
    except ValueError:
        return f"not JSON: {text[:200]}"
    if not isinstance(event, dict):
        return f"not a JSON object: {text[:200]}"
    return tally.take(event, at, whole)


def judged(body: bytes, chat: bool, streamed: bool) -> str | None:
    """Whether an answer read whole (the harness's warm-up) is a failure, its times unknown."""
    if not streamed:
        return read_whole(body, chat, 0.0, 0.0).problem
    return read_stream(((0.0, line) for line in body.splitlines(keepends=True)), chat, 0.0).problem
