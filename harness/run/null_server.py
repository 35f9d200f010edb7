"""`python -m harness.run.null_server --port P --keys success,prediction,score`: answers every
request at once, 200 with a JSON object holding the keys a run's requests expect. What the load
generator measures against it is its own latency: the floor under every figure it reports.

A JSON request with `"stream": true` (an OpenAI-compatible streaming request, locust/payloads.py)
is answered with a whole stream at once, as an OpenAI-compatible server would send it over time:
server-sent events, `max_tokens` content chunks of one token each (16 when the request names
none), usage in a last chunk of its own, `data: [DONE]`. A chat request (its path says
"chat") gets a role-only chunk first, as vLLM sends it. With no time between the chunks, the
TTFT and ITL the generator measures are its own."""

import argparse
import asyncio
import json
from functools import cache

DEFAULT_MAX_TOKENS = 16  # OpenAI's default for completions
STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
)


async def answer(body: bytes, reader, writer) -> None:
    head_line = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            request = await reader.readexactly(length) if length else b""
            tokens = streamed_tokens(request)
            if tokens is None:
                writer.write(f"{head_line}\r\n\r\n".encode() + body)
            else:
                writer.write(stream(b"chat" in head.split(b" ", 2)[1], tokens))
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def streamed_tokens(request: bytes) -> int | None:
    """The tokens a streaming request asks for; None for any other request. Only a body that
    names "stream" is parsed: an image's is left unread, as before streams."""
    if b'"stream"' not in request:
        return None
    try:
        asked = json.loads(request)
    except ValueError:
        return None
    if not isinstance(asked, dict) or asked.get("stream") is not True:
        return None
    tokens = asked.get("max_tokens")
    return tokens if isinstance(tokens, int) and tokens > 0 else DEFAULT_MAX_TOKENS


@cache
def stream(chat: bool, tokens: int) -> bytes:
    """A whole streamed answer, chunked HTTP, as one write (the same for every request alike)."""
    if chat:
        content = {"choices": [{"index": 0, "delta": {"content": "tok "}}]}
        events = [{"choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
    else:
        content = {"choices": [{"index": 0, "text": "tok "}]}
        events = []
    usage = {"prompt_tokens": 0, "completion_tokens": tokens, "total_tokens": tokens}
    events += [content] * tokens + [{"choices": [], "usage": usage}]
    lines = [f"data: {json.dumps(event)}\n\n".encode() for event in events]
    lines.append(b"data: [DONE]\n\n")
    chunks = b"".join(f"{len(line):x}\r\n".encode() + line + b"\r\n" for line in lines)
    return STREAM_HEAD + chunks + b"0\r\n\r\n"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--keys", default="")
    options = parser.parse_args()
    body = json.dumps({key: None for key in filter(None, options.keys.split(","))}).encode()
    server = await asyncio.start_server(
        lambda reader, writer: answer(body, reader, writer), "127.0.0.1", options.port
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
