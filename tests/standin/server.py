"""A stand-in for the stack with a known service time: queueing theory gives its latency.

    python -m tests.standin.server --port P --service-ms 10 [--servers 1] [--stall-every-s 5
        --stall-ms 1000] [--no-stages]

`--servers` workers take requests in arrival order (FIFO), each holding a request for exactly
`--service-ms`: with one server and a constant arrival rate below 1/D, latency is about D; with
Poisson arrivals the mean is D + ρD / (2(1 − ρ)) (M/D/1). `--stall-every-s` freezes the servers
for `--stall-ms`, every that many seconds from the first request. It answers POST /predict like the
real API (`success`, `prediction`, `score`), GET /ready with its server count, and GET /metrics
with the request stages of the real API (queue wait and inference), unless `--no-stages`.
"""

import argparse
import asyncio
import json
import time

STAGES = ("queue_wait", "inference")
BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)


class StandIn:
    def __init__(self, service_s: float, servers: int, stall_every_s: float | None, stall_s: float):
        self.service_s = service_s
        self.servers = servers
        self.queue: asyncio.Queue = asyncio.Queue()
        self.first_request: float | None = None
        self.stall_every_s = stall_every_s
        self.stall_s = stall_s
        self.stalls_done = 0
        self.stall_until = 0.0
        self.observed: dict[str, list[float]] = {stage: [] for stage in STAGES}

    async def serve(self) -> None:
        while True:
            arrived, done = await self.queue.get()
            started = time.monotonic()
            await self._maybe_stall()
            # Busy until the service time has passed since this request started, whatever the
            # event loop's timer granularity: the deadline is absolute.
            await asyncio.sleep(max(0.0, started + self.service_s - time.monotonic()))
            self.observed["queue_wait"].append(started - arrived)
            self.observed["inference"].append(time.monotonic() - started)
            done.set_result(None)

    async def _maybe_stall(self) -> None:
        if self.stall_every_s is None or self.first_request is None:
            return
        now = time.monotonic()
        due = self.first_request + (self.stalls_done + 1) * self.stall_every_s
        if now >= due:
            self.stalls_done += 1
            self.stall_until = due + self.stall_s
        if now < self.stall_until:  # every server waits the stall out
            await asyncio.sleep(self.stall_until - now)

    def metrics(self) -> str:
        name = "request_stage_seconds"
        lines = [f"# TYPE {name} histogram"]
        for stage, values in self.observed.items():
            for bound in (*BUCKETS_S, "+Inf"):
                count = sum(bound == "+Inf" or value <= bound for value in values)
                lines.append(f'{name}_bucket{{stage="{stage}",le="{bound}"}} {count}')
            lines.append(f'{name}_sum{{stage="{stage}"}} {sum(values)}')
            lines.append(f'{name}_count{{stage="{stage}"}} {len(values)}')
        return "\n".join(lines) + "\n"


async def handle(standin: StandIn, stages: bool, reader, writer) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            if method == b"POST" and path == b"/predict":
                if standin.first_request is None:
                    standin.first_request = time.monotonic()
                done = asyncio.get_running_loop().create_future()
                await standin.queue.put((time.monotonic(), done))
                await done
                status, body = 200, {"success": True, "prediction": "stand-in", "score": 1.0}
                text, kind = json.dumps(body), "application/json"
            elif path == b"/ready":
                status, kind = 200, "application/json"
                text = json.dumps({"ready": True, "workers": standin.servers})
            elif path == b"/metrics" and stages:
                status, text, kind = 200, standin.metrics(), "text/plain"
            else:
                status, text, kind = 404, json.dumps({"error": "not here"}), "application/json"
            data = text.encode()
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
                f"Content-Length: {len(data)}\r\n\r\n".encode()
                + data
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service-ms", type=float, required=True)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--stall-every-s", type=float, default=None)
    parser.add_argument("--stall-ms", type=float, default=1000)
    parser.add_argument("--no-stages", action="store_true")
    options = parser.parse_args()
    standin = StandIn(
        options.service_ms / 1000, options.servers, options.stall_every_s, options.stall_ms / 1000
    )
    for _ in range(options.servers):
        asyncio.get_running_loop().create_task(standin.serve())
    server = await asyncio.start_server(
        lambda reader, writer: handle(standin, not options.no_stages, reader, writer),
        "127.0.0.1",
        options.port,
    )
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
