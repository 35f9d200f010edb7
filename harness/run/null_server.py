"""`python -m harness.run.null_server --port P --keys success,prediction,score`: answers every
request at once, 200 with a JSON object holding the keys a run's requests expect. What the load
generator measures against it is its own latency: the floor under every figure it reports."""

import argparse
import asyncio
import json


async def answer(body: bytes, reader, writer) -> None:
    head_line = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}"
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            writer.write(f"{head_line}\r\n\r\n".encode() + body)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


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
