"""Figures for the stack under test, side by side from one run (figures, not pass/fail).

    .venv/bin/python benchmarks/stack_benchmark.py [--seconds 10]

Each figure is printed with its goal. The model's in-process figures (no Redis, no HTTP:
services.model.ceiling) are the yardstick the stack's are read against; everything runs on this
machine in one sitting, so the ratios hold even when the machine is slower one day than the next.

1. In-process: one worker's decode + preprocess + forward pass, at batch 1 on one photo (the
   model's own time for it), and images/s on the sample photos at batch 1 and MAX_BATCH.
2. The stack over HTTP (the harness's local backend: redis-server, the API, N workers):
   - 1 worker, 1 client, the same photo: median end-to-end ÷ the model's own time (≤ 1.10);
   - 1 worker, 8 clients: images/s ÷ the model alone in-process (≥ 0.97);
   - 2 workers, 8 clients: images/s ÷ 1 worker's (≥ 1.5), each worker's CPU (≥ 85% of a core).
3. Telemetry: Locust runs of the harness at 1 worker, 8 users, with the sampler and the /metrics
   reading on and off, alternated: throughput on ÷ off (≥ 0.98).

The configuration is the services' own environment (MODEL_NAME, RUNTIME, MAX_BATCH, ...).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlparse

import psutil

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.matrix import ClosedLoad, RunPoint, Telemetry, load_matrix  # noqa: E402
from harness.run import execute_run  # noqa: E402
from harness.stack import Stack, bring_down, bring_up  # noqa: E402
from harness.stack.network import free_port  # noqa: E402
from services.model.ceiling import SAMPLE_IMAGES, measure  # noqa: E402
from services.settings import load_settings  # noqa: E402

ONE_PHOTO = REPO / "locust" / "images" / "cat.jpg"
CLIENTS = 8
WARMUP_REQUESTS = 20
TELEMETRY_RUNS = 2  # of each kind, alternated
GOALS = {
    "overhead": 1.10,
    "one worker": 0.97,
    "two workers": 1.5,
    "worker cpu": 85.0,
    "telemetry": 0.98,
}


@contextmanager
def running_stack(workers: int, state_dir: Path) -> Iterator[tuple[str, Stack]]:
    """The harness's local backend on a free port, with the services' environment as it is."""
    matrix = load_matrix(REPO / "matrix.json")
    # Empty env: the services read this process's environment, as the in-process model did.
    settings = replace(matrix.stack, host=f"http://127.0.0.1:{free_port()}", env={})
    folder = state_dir / f"stack-{workers}"
    stack, _ = bring_up(settings, "cpu", workers, "local", folder)
    try:
        yield settings.host, stack
    finally:
        bring_down(stack, folder)


@dataclass(frozen=True)
class HttpFigures:
    requests_per_s: float
    median_s: float
    failures: int


BOUNDARY = "stack-benchmark-boundary"


def predict_request(host: str, image: bytes) -> bytes:
    """A whole POST /predict, encoded once: the client's own cost stays out of the figures."""
    body = (
        (
            f"--{BOUNDARY}\r\n"
            'Content-Disposition: form-data; name="file"; filename="photo.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + image
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )
    head = (
        f"POST /predict HTTP/1.1\r\nHost: {host}\r\n"
        f"Content-Type: multipart/form-data; boundary={BOUNDARY}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head + body


class Connection:
    """One keep-alive HTTP/1.1 connection; enough of the protocol for the answers of the API
    and of the stacks it is compared with (a Content-Length or chunked body)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        fields = dict(
            line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:] if b":" in line
        )
        if b"content-length" in fields:
            await self.reader.readexactly(int(fields[b"content-length"]))
        else:  # chunked (Ray Serve's answers): chunks until the empty one, then its blank line
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                await self.reader.readexactly(size + 2)
            await self.reader.readuntil(b"\r\n")
        return status


async def _http_load(
    base_url: str, clients: int, seconds: float, photos: list[Path]
) -> HttpFigures:
    address = urlparse(base_url)
    requests = [predict_request(address.netloc, path.read_bytes()) for path in photos]
    connections = [
        Connection(*await asyncio.open_connection(address.hostname, address.port))
        for _ in range(clients)
    ]
    for index in range(WARMUP_REQUESTS):
        await connections[0].exchange(requests[index % len(requests)])
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def client(connection: Connection, offset: int) -> None:
        nonlocal failures
        index = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await connection.exchange(requests[index % len(requests)])
            latencies.append(time.perf_counter() - started)
            failures += status != 200
            index += 1

    started = time.perf_counter()
    await asyncio.gather(*(client(c, offset) for offset, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.writer.close()
    return HttpFigures(len(latencies) / elapsed, statistics.median(latencies), failures)


def http_load(base_url: str, clients: int, seconds: float, photos: list[Path]) -> HttpFigures:
    return asyncio.run(_http_load(base_url, clients, seconds, photos))


def model_pids(stack: Stack) -> list[int]:
    return [member.pid for member in stack.members() if member.service == "model" and member.pid]


def cpu_during(pids: list[int], load) -> tuple[HttpFigures, list[float]]:
    """The load's figures, and each process's CPU (% of one core) while it ran."""
    processes = [psutil.Process(pid) for pid in pids]
    for process in processes:
        process.cpu_percent(interval=None)
    figures = load()
    return figures, [process.cpu_percent(interval=None) for process in processes]


def telemetry_ratio(seconds: float, state_dir: Path) -> tuple[float, float]:
    """Throughput of harness runs at 1 worker, 8 users, telemetry on and off, alternated."""
    matrix = load_matrix(REPO / "matrix.json")
    host = f"http://127.0.0.1:{free_port()}"
    matrix = replace(matrix, host=host, stack=replace(matrix.stack, host=host, env={}))
    point = RunPoint("cpu", 1, ClosedLoad(CLIENTS, CLIENTS), f"{round(seconds)}s")
    reports = state_dir / "telemetry-reports"
    found: dict[bool, list[float]] = {True: [], False: []}
    stack, ready = bring_up(matrix.stack, "cpu", 1, "local", state_dir / "telemetry-stack")
    try:
        for index in range(2 * TELEMETRY_RUNS):
            enabled = index % 2 == 0
            variant = replace(matrix, telemetry=Telemetry(enabled, matrix.telemetry.interval_s))
            record = execute_run(variant, point, stack, reports, ready, repeat=index + 1)
            if record.status == "ok" and record.latency is not None:
                found[enabled].append(record.latency.rps)
    finally:
        bring_down(stack, state_dir / "telemetry-stack")
    return statistics.fmean(found[True]), statistics.fmean(found[False])


def table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<66}{value:>26}")


def verdict(value: float, goal: float, at_least: bool) -> str:
    met = value >= goal if at_least else value <= goal
    return f"goal {'≥' if at_least else '≤'} {goal:g}: {'met' if met else 'NOT met'}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    seconds = parser.parse_args().seconds
    settings = load_settings()
    batch = settings.max_batch
    print(
        f"model {settings.model_name}, runtime {settings.runtime}, device {settings.device}, "
        f"NUM_THREADS {settings.num_threads}, MAX_BATCH {batch}, "
        f"{os.cpu_count()} cores; {seconds:g} s per figure",
        flush=True,
    )
    own = measure(settings, 1, seconds, whole_job=True, photos=[ONE_PHOTO])
    alone_1 = measure(settings, 1, seconds, whole_job=True)
    alone_max = measure(settings, batch, seconds, whole_job=True)
    best_alone = max(alone_1.images_per_s, alone_max.images_per_s)
    photos = list(SAMPLE_IMAGES)
    with tempfile.TemporaryDirectory(prefix="stack-benchmark-") as folder:
        state_dir = Path(folder)
        with running_stack(1, state_dir) as (base_url, stack):
            one_user = http_load(base_url, 1, seconds, [ONE_PHOTO])
            one_worker, one_cpu = cpu_during(
                model_pids(stack), lambda: http_load(base_url, CLIENTS, seconds, photos)
            )
        with running_stack(2, state_dir) as (base_url, stack):
            two_workers, two_cpu = cpu_during(
                model_pids(stack), lambda: http_load(base_url, CLIENTS, seconds, photos)
            )
        telemetry_on, telemetry_off = telemetry_ratio(seconds, state_dir)

    overhead = one_user.median_s / own.median_batch_s
    share_alone = one_worker.requests_per_s / best_alone
    scaling = two_workers.requests_per_s / one_worker.requests_per_s
    table(
        "in-process model, no Redis, no HTTP",
        [
            (
                "decode+preprocess+forward, batch 1, one photo: ms",
                f"{own.median_batch_s * 1000:.2f}",
            ),
            ("decode+preprocess+forward, batch 1: images/s", f"{alone_1.images_per_s:.1f}"),
            (
                f"decode+preprocess+forward, batch {batch}: images/s",
                f"{alone_max.images_per_s:.1f}",
            ),
        ],
    )
    table(
        "the stack over HTTP",
        [
            ("1 worker, 1 client, same photo: median ms", f"{one_user.median_s * 1000:.2f}"),
            (
                "  ÷ the model's own time",
                f"{overhead:.2f}  {verdict(overhead, GOALS['overhead'], False)}",
            ),
            (f"1 worker, {CLIENTS} clients: images/s", f"{one_worker.requests_per_s:.1f}"),
            (
                "  ÷ the model alone in-process (its best batch)",
                f"{share_alone:.2f}  {verdict(share_alone, GOALS['one worker'], True)}",
            ),
            (f"2 workers, {CLIENTS} clients: images/s", f"{two_workers.requests_per_s:.1f}"),
            ("  ÷ 1 worker", f"{scaling:.2f}  {verdict(scaling, GOALS['two workers'], True)}"),
            (
                "  each worker's CPU, % of a core",
                f"{', '.join(f'{cpu:.0f}' for cpu in two_cpu)}"
                f"  {verdict(min(two_cpu), GOALS['worker cpu'], True)}",
            ),
            (
                f"1 worker's CPU at {CLIENTS} clients, % of a core",
                ", ".join(f"{cpu:.0f}" for cpu in one_cpu),
            ),
            (
                "failed requests",
                f"{one_user.failures + one_worker.failures + two_workers.failures}",
            ),
        ],
    )
    ratio = telemetry_on / telemetry_off
    table(
        f"telemetry, harness runs at 1 worker, {CLIENTS} users (req/s, mean of {TELEMETRY_RUNS})",
        [
            ("telemetry on", f"{telemetry_on:.1f}"),
            ("telemetry off", f"{telemetry_off:.1f}"),
            ("  on ÷ off", f"{ratio:.3f}  {verdict(ratio, GOALS['telemetry'], True)}"),
        ],
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
