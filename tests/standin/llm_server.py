"""A streaming OpenAI-compatible stand-in with a known answer, and the misbehaviours a stream
can show.

    python -m tests.standin.llm_server --port P [--ttft-ms 20] [--ttft-ms-per-token 0.5]
        [--itl-ms 5] [--tokens-per-chunk 1] [--usage-with-choices | --no-usage]
        [--faults not-sse,not-json,error,cut,stall,429 --fault-every 3] [--stall-s 5]
        [--servers 0] [--arrivals-to FILE]

POST /v1/chat/completions and /v1/completions answer every stream in parallel by default (no
queue), so the truth is exact: the first content comes `--ttft-ms` + `--ttft-ms-per-token` ×
prompt tokens after the request arrived (prompt tokens: the prompt's whitespace-separated
words), after a role-only chunk (chat) that carries no token; then a chunk every `--itl-ms` ×
k carrying k tokens (k = `--tokens-per-chunk`, the last chunk what is left), `max_tokens` tokens
in all (default 16). With `--servers c`, c servers take the streams in arrival order (FIFO),
each holding one from its start to its last token: a stream's timeline starts when a server is
free, so its TTFT adds the time it queued, and the truth of any arrivals is a replay of them
through the same queue (`replay` below). `--arrivals-to` appends, for each stream, a JSON line
of when it had fully arrived (this machine's monotonic clock, seconds), its prompt tokens and
its max_tokens: what the load generator sent is known too.

Usage comes in a last chunk of its own with empty `choices`, as vLLM sends it, or with
`--usage-with-choices` on the last content chunk, as LitServe does; `--no-usage` sends none.
`data: [DONE]` ends the stream. `"stream": false` gets the whole answer at the end. GET /ready
answers {"workers": 1}.

`--faults` gives every `--fault-every`-th request the next fault of the list, in turn: `not-sse`
(a 200 JSON body), `not-json` (a data line that is not JSON), `error` (an `{"error": ...}` event
mid-stream), `cut` (the connection closed mid-stream, before [DONE]), `stall` (no data for
`--stall-s` mid-stream), `429` (Too Many Requests).
"""

import argparse
import asyncio
import itertools
import json
import time

FAULTS = ("not-sse", "not-json", "error", "cut", "stall", "429")
PATHS = {b"/v1/chat/completions": True, b"/v1/completions": False}  # path -> chat


def chunk(data: bytes) -> bytes:
    """One piece of a chunked HTTP body."""
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def event(payload: dict | str) -> bytes:
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {text}\n\n".encode()


def choice(chat: bool, text: str | None, role: bool = False) -> dict:
    if chat:
        delta = {"role": "assistant"} if role else {"content": text}
        return {"index": 0, "delta": delta, "finish_reason": None}
    return {"index": 0, "text": text, "finish_reason": None}


def first_token_s(options: argparse.Namespace, prompt_tokens: int) -> float:
    """From a stream's start (a server taking it) to its first content."""
    return (options.ttft_ms + options.ttft_ms_per_token * prompt_tokens) / 1000


def stream_s(options: argparse.Namespace, prompt_tokens: int, max_tokens: int) -> float:
    """From a stream's start to its last content chunk: what it holds a server for."""
    chunks = -(-max_tokens // options.tokens_per_chunk)
    interval = options.itl_ms * options.tokens_per_chunk / 1000
    return first_token_s(options, prompt_tokens) + interval * (chunks - 1)


def replay(options: argparse.Namespace, arrivals: list[dict]) -> list[float]:
    """Each arrival's TTFT (seconds) through `options.servers` FIFO servers: the truth of a run
    against this stand-in, from the arrivals it saw (`--arrivals-to`)."""
    free_at, found = [0.0] * options.servers, []
    for arrival in sorted(arrivals, key=lambda one: one["at"]):
        server = min(range(options.servers), key=free_at.__getitem__)
        start = max(arrival["at"], free_at[server])
        free_at[server] = start + stream_s(options, arrival["prompt_tokens"], arrival["max_tokens"])
        found.append(start - arrival["at"] + first_token_s(options, arrival["prompt_tokens"]))
    return found


class Answers:
    def __init__(self, options: argparse.Namespace) -> None:
        self.options = options
        self.faults = itertools.cycle(options.faults) if options.faults else None
        self.served = 0
        # With servers: when each is free next, kept as numbers (as tests/standin/server.py
        # does), so that the event loop's delays never stretch a stream.
        self.free_at = [0.0] * options.servers
        self.arrivals = open(options.arrivals_to, "a") if options.arrivals_to else None

    def start(self, arrived: float, prompt_tokens: int, max_tokens: int) -> float:
        """When a stream starts: at once without servers, else when the first is free."""
        if self.arrivals is not None:
            line = {"at": arrived, "prompt_tokens": prompt_tokens, "max_tokens": max_tokens}
            self.arrivals.write(json.dumps(line) + "\n")
            self.arrivals.flush()
        if not self.free_at:
            return arrived
        server = min(range(len(self.free_at)), key=self.free_at.__getitem__)
        started = max(arrived, self.free_at[server])
        self.free_at[server] = started + stream_s(self.options, prompt_tokens, max_tokens)
        return started

    def fault(self) -> str | None:
        self.served += 1
        if self.faults is None or self.served % self.options.fault_every:
            return None
        return next(self.faults)

    async def answer(self, request: dict, chat: bool, writer) -> bool:
        """Answer one request; False when the connection is closed (a cut)."""
        options, arrived = self.options, time.monotonic()
        prompt = request["messages"][-1]["content"] if chat else request["prompt"]
        prompt_tokens, max_tokens = len(prompt.split()), request.get("max_tokens") or 16
        fault = self.fault()
        if fault == "429":
            return plain(writer, 429, b'{"error": {"message": "stand-in: too many requests"}}')
        if fault == "not-sse":
            return plain(writer, 200, b'{"object": "not a stream"}')
        started = self.start(arrived, prompt_tokens, max_tokens)
        first_at = started + first_token_s(options, prompt_tokens)
        per_chunk = options.tokens_per_chunk
        interval = options.itl_ms * per_chunk / 1000  # seconds between chunks
        sizes = [min(per_chunk, max_tokens - sent) for sent in range(0, max_tokens, per_chunk)]
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": max_tokens,
            "total_tokens": prompt_tokens + max_tokens,
        }
        if not request.get("stream"):
            await asyncio.sleep(max(0.0, first_at + interval * (len(sizes) - 1) - time.monotonic()))
            text = " ".join(["tok"] * max_tokens)
            whole = {"message": {"role": "assistant", "content": text}} if chat else {"text": text}
            return plain(writer, 200, json.dumps({"choices": [whole], "usage": usage}).encode())
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        if chat:
            writer.write(chunk(event({"choices": [choice(chat, None, role=True)]})))
        for index, size in enumerate(sizes):
            await asyncio.sleep(max(0.0, first_at + interval * index - time.monotonic()))
            if index == len(sizes) // 2 and fault is not None:
                return await misbehave(fault, writer, options.stall_s)
            body = {"choices": [choice(chat, "tok " * size)]}
            if index == len(sizes) - 1 and options.usage == "with-choices":
                body["usage"] = usage
            writer.write(chunk(event(body)))
            await writer.drain()
        if options.usage == "alone":
            writer.write(chunk(event({"choices": [], "usage": usage})))
        writer.write(chunk(event("[DONE]")) + chunk(b""))
        return True


async def misbehave(fault: str, writer, stall_s: float) -> bool:
    if fault == "not-json":
        writer.write(chunk(b"data: {not json\n\n"))
    elif fault == "error":
        writer.write(chunk(event({"error": {"message": "stand-in: generation failed"}})))
    elif fault == "stall":
        await asyncio.sleep(stall_s)
    writer.close()  # the stream ends mid-answer, whatever came before
    return False


def plain(writer, status: int, body: bytes) -> bool:
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    return True


async def handle(answers: Answers, reader, writer) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if path in PATHS:
                if not await answers.answer(json.loads(body), PATHS[path], writer):
                    return
            elif path == b"/ready":
                plain(writer, 200, b'{"ready": true, "workers": 1}')
            else:
                plain(writer, 404, b'{"error": "not here"}')
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def faults_option(text: str) -> list[str]:
    faults = [fault for fault in text.split(",") if fault]
    for fault in faults:
        if fault not in FAULTS:
            raise argparse.ArgumentTypeError(f"{fault}: not one of {', '.join(FAULTS)}")
    return faults


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ttft-ms", type=float, default=20.0)
    parser.add_argument("--ttft-ms-per-token", type=float, default=0.5)
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--tokens-per-chunk", type=int, default=1)
    usage = parser.add_mutually_exclusive_group()
    usage.add_argument(
        "--usage-with-choices", dest="usage", action="store_const", const="with-choices"
    )
    usage.add_argument("--no-usage", dest="usage", action="store_const", const="none")
    parser.add_argument("--faults", type=faults_option, default=[])
    parser.add_argument("--fault-every", type=int, default=3)
    parser.add_argument("--stall-s", type=float, default=5.0)
    parser.add_argument("--servers", type=int, default=0, help="0: every stream at once")
    parser.add_argument("--arrivals-to")
    parser.set_defaults(usage="alone")
    options = parser.parse_args()
    answers = Answers(options)
    server = await asyncio.start_server(
        lambda reader, writer: handle(answers, reader, writer), "127.0.0.1", options.port
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
