"""A stand-in for a stack with a known service time, and every misbehaviour a stack can show.

    python -m tests.standin.server --port P --service-ms 10 [--servers 1] [--stall-every-s 5
        --stall-ms 1000] [--mib-per-server 50] [--metrics stages|none|json|html|bytes|plain|hang]
        [--faults 500:0.2,reset:0.1,notjson:0.1] [--ready-flap-every-s 3] [--names-to FILE]
        [--arrivals-to FILE]

`--servers` workers take requests in arrival order (FIFO), each holding a request for exactly
`--service-ms`: with one server and a constant arrival rate below 1/D, latency is about D; with
Poisson arrivals the mean is D + ρD / (2(1 − ρ)) (M/D/1). `--stall-every-s` freezes the servers
for `--stall-ms`, every that many seconds from the first request. It answers POST /predict like
the real API (`success`, `prediction`, `score`) and GET /ready with its server count.
`--mib-per-server` holds that much memory per server, so its size is known too. `--names-to`
appends the file name of each /predict request's multipart image to FILE, a line each, in the
order they came: what the load generator sent is known too. `--arrivals-to` appends when each
/predict request had fully arrived (this machine's monotonic clock, seconds), a line each: when
the load generator sent it is known too.

What can go wrong, on purpose:
- `--metrics` is what GET /metrics answers: `stages` the real API's request stages (queue wait
  and inference, the default); `none` 404; `json`, `html` or `bytes` a 200 with a JSON object,
  an HTML page or random bytes; `plain` valid Prometheus text without any of our metrics;
  `hang` no answer at all (the connection stays open, silent).
- `--faults` makes that share of /predict requests, served in turn, answer an HTTP 500, reset
  the connection without an answer, or answer 200 with a body that is not JSON (seeded: the
  same requests each time).
- `--ready-flap-every-s` makes /ready answer 503 for one second in every that many.
"""

import argparse
import asyncio
import json
import math
import random
import re
import time
from pathlib import Path

STAGES = ("queue_wait", "inference")
BUCKETS_S = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)
METRICS = ("stages", "none", "json", "html", "bytes", "plain", "hang")
FAULTS = ("500", "reset", "notjson")
PLAIN = (
    "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n"
    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 4.2\n"
    "# HELP http_requests_total Requests.\n# TYPE http_requests_total counter\n"
    'http_requests_total{code="200"} 17\n'
)
HTML = "<!DOCTYPE html><html><head><title>Reference</title></head><body><p>Hi</p></body></html>"


class StandIn:
    """c servers taking requests in arrival order, each for exactly the service time. The
    servers' timelines are kept as numbers (when each is free next), and a request sleeps until
    its own finish: the event loop's delays never stretch the service, so the stand-in is the
    M/D/c queue queueing theory describes."""

    def __init__(self, service_s: float, servers: int, stall_every_s: float | None, stall_s: float):
        self.service_s = service_s
        self.servers = servers
        self.free_at = [0.0] * servers
        self.first_request: float | None = None
        self.stall_every_s = stall_every_s
        self.stall_s = stall_s
        self.observed: dict[str, list[float]] = {stage: [] for stage in STAGES}

    async def serve(self) -> None:
        arrived = time.monotonic()
        if self.first_request is None:
            self.first_request = arrived
        server = min(range(self.servers), key=self.free_at.__getitem__)
        started = self._after_stalls(max(arrived, self.free_at[server]))
        finished = started + self.service_s
        self.free_at[server] = finished
        await asyncio.sleep(max(0.0, finished - time.monotonic()))
        self.observed["queue_wait"].append(started - arrived)
        self.observed["inference"].append(finished - started)

    def _after_stalls(self, start: float) -> float:
        """When a request may start: every server is frozen for stall_s every stall_every_s,
        counted from the first request."""
        if self.stall_every_s is None:
            return start
        since = start - self.first_request
        stall = math.floor(since / self.stall_every_s) * self.stall_every_s
        if stall >= self.stall_every_s and since < stall + self.stall_s:
            return self.first_request + stall + self.stall_s
        return start

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


class Misbehaviour:
    def __init__(self, metrics: str, faults: dict[str, float], flap_every_s: float | None):
        self.metrics = metrics
        self.faults = faults
        self.flap_every_s = flap_every_s
        self.draw = random.Random(20261130)
        self.started = time.monotonic()

    def fault(self) -> str | None:
        """The fault this /predict request meets, if any."""
        roll, start = self.draw.random(), 0.0
        for fault, share in self.faults.items():
            if start <= roll < start + share:
                return fault
            start += share
        return None

    def flapping(self) -> bool:
        if self.flap_every_s is None:
            return False
        return (time.monotonic() - self.started) % self.flap_every_s < 1.0


def answer(writer, status: int, body: bytes, kind: str) -> None:
    writer.write(
        f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


class Witness:
    """Writes down what came in, for a test to compare with what the load generator meant."""

    def __init__(self, names_to: Path | None, arrivals_to: Path | None):
        self.names_to = names_to
        self.arrivals_to = arrivals_to

    def saw(self, body: bytes) -> None:
        if self.arrivals_to is not None:
            with self.arrivals_to.open("a") as arrivals:
                arrivals.write(f"{time.monotonic():.6f}\n")
        if self.names_to is not None:
            named = re.search(rb'filename="([^"]*)"', body)
            with self.names_to.open("ab") as names:
                names.write((named.group(1) if named else b"") + b"\n")


async def handle(standin: StandIn, odd: Misbehaviour, witness: Witness, reader, writer) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path = head.split(b" ", 2)[:2]
            length = 0
            for line in head.split(b"\r\n")[1:]:
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            body = await reader.readexactly(length) if length else b""
            if method == b"POST" and path == b"/predict":
                witness.saw(body)
                await standin.serve()
                fault = odd.fault()
                if fault == "reset":
                    writer.transport.abort()  # no answer: the client sees the connection reset
                    return
                if fault == "500":
                    answer(writer, 500, b'{"success": false, "error": "stand-in fault"}', "json")
                elif fault == "notjson":
                    answer(writer, 200, b"<html>not json</html>", "text/html")
                else:
                    body = {"success": True, "prediction": "stand-in", "score": 1.0}
                    answer(writer, 200, json.dumps(body).encode(), "application/json")
            elif path == b"/ready":
                status = 503 if odd.flapping() else 200
                body = {"ready": status == 200, "workers": standin.servers if status == 200 else 0}
                answer(writer, status, json.dumps(body).encode(), "application/json")
            elif path == b"/metrics" and odd.metrics != "none":
                if odd.metrics == "hang":
                    await asyncio.sleep(3600)
                text = {
                    "stages": standin.metrics,
                    "json": lambda: json.dumps({"page": "reference"}),
                    "html": lambda: HTML,
                    "plain": lambda: PLAIN,
                }.get(odd.metrics)
                data = text().encode() if text else random.randbytes(4096)
                answer(writer, 200, data, "text/plain")
            else:
                answer(writer, 404, b'{"error": "not here"}', "application/json")
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def faults_option(text: str) -> dict[str, float]:
    shares = {}
    for part in filter(None, text.split(",")):
        fault, share = part.split(":")
        if fault not in FAULTS:
            raise argparse.ArgumentTypeError(f"{fault}: not one of {', '.join(FAULTS)}")
        shares[fault] = float(share)
    return shares


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--service-ms", type=float, required=True)
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--stall-every-s", type=float, default=None)
    parser.add_argument("--stall-ms", type=float, default=1000)
    parser.add_argument("--metrics", choices=METRICS, default="stages")
    parser.add_argument("--faults", type=faults_option, default={})
    parser.add_argument("--ready-flap-every-s", type=float, default=None)
    parser.add_argument("--mib-per-server", type=int, default=0)
    parser.add_argument("--names-to", type=Path, default=None)
    parser.add_argument("--arrivals-to", type=Path, default=None)
    options = parser.parse_args()
    held = bytearray(options.mib_per_server * options.servers * 2**20)
    held[::4096] = b"x" * len(held[::4096])  # touched: resident, not just reserved
    standin = StandIn(
        options.service_ms / 1000, options.servers, options.stall_every_s, options.stall_ms / 1000
    )
    odd = Misbehaviour(options.metrics, options.faults, options.ready_flap_every_s)
    witness = Witness(options.names_to, options.arrivals_to)
    server = await asyncio.start_server(
        lambda reader, writer: handle(standin, odd, witness, reader, writer),
        "127.0.0.1",
        options.port,
    )
    async with server:
        await server.serve_forever()
    del held


if __name__ == "__main__":
    asyncio.run(main())
