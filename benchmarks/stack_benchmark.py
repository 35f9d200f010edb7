"""Figures for the stack under test, side by side from one run (figures, not pass/fail).

    .venv/bin/python benchmarks/stack_benchmark.py [--seconds 10]

1. The model in-process, no Redis, no HTTP: images/s at batch 1 and at MAX_BATCH, forward pass
   alone and the worker's whole per-job compute (decode + preprocess + forward), in 1 and in 2
   processes at once (what 1 and 2 workers could do at best on this machine).
2. The stack over HTTP (redis-server, the API, N workers, started by the harness's local backend
   from services/Procfile), N = 1 and 2, many concurrent clients: images/s.
3. The stack's latency overhead at one user: median end-to-end time minus median worker compute.

Goals (issue 2): overhead <= 3 ms; stack throughput >= 85% of the raw throughput of the same
workers. The configuration is the services' own environment (MODEL_NAME, RUNTIME, MAX_BATCH,
NUM_THREADS, ...), read by both the in-process model and the stack.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
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

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.matrix import load_matrix  # noqa: E402
from harness.stack import bring_down, bring_up  # noqa: E402
from harness.stack.network import free_port  # noqa: E402
from services.model.classifiers import get_classifier  # noqa: E402
from services.model.preprocess import decode  # noqa: E402
from services.model.runtimes import create_runtime  # noqa: E402
from services.settings import Settings, load_settings  # noqa: E402

IMAGES = sorted((REPO / "locust" / "images").glob("*.jpg"))
WARMUP_REQUESTS = 20


@dataclass(frozen=True)
class RawFigures:
    images_per_s: float
    median_s: float


def _raw_loop(settings: Settings, batch_size: int, seconds: float, whole_job: bool) -> RawFigures:
    classifier = get_classifier(settings.model_name, settings.model_weights)
    runtime = create_runtime(classifier, settings)
    images = [path.read_bytes() for path in IMAGES]
    pixels = settings.max_image_pixels

    def tensors(offset: int) -> list[np.ndarray]:
        chosen = [images[(offset + n) % len(images)] for n in range(batch_size)]
        return [decode(data, classifier.preprocessing, pixels) for data in chosen]

    ready_batch = np.stack(tensors(0))
    runtime.logits(ready_batch)  # warm-up
    durations = []
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        started = time.perf_counter()
        runtime.logits(np.stack(tensors(done)) if whole_job else ready_batch)
        durations.append(time.perf_counter() - started)
        done += batch_size
    return RawFigures(images_per_s=done / sum(durations), median_s=statistics.median(durations))


def _raw_process(
    args: tuple, barrier: multiprocessing.Barrier, results: multiprocessing.Queue
) -> None:
    settings, batch_size, seconds, whole_job = args
    barrier.wait()
    results.put(_raw_loop(settings, batch_size, seconds, whole_job))


def raw_throughput(
    settings: Settings, processes: int, batch_size: int, seconds: float, whole_job: bool
) -> RawFigures:
    """Images/s of `processes` copies of the model running at once (summed), in-process."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    results = context.Queue()
    workers = [
        context.Process(
            target=_raw_process,
            args=((settings, batch_size, seconds, whole_job), barrier, results),
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    figures = [results.get(timeout=seconds + 300) for _ in workers]
    for worker in workers:
        worker.join()
    return RawFigures(
        images_per_s=sum(figure.images_per_s for figure in figures),
        median_s=statistics.median(figure.median_s for figure in figures),
    )


@contextmanager
def running_stack(workers: int, state_dir: Path) -> Iterator[str]:
    """The local backend the sweep uses, on a free port, with the services' environment as is."""
    repo_stack = load_matrix(REPO / "matrix.json").stack
    # Empty env: the services read this process's environment, as the in-process model did.
    settings = replace(repo_stack, host=f"http://127.0.0.1:{free_port()}", env={})
    stack, _ = bring_up(settings, "cpu", workers, "local", state_dir / f"stack-{workers}")
    try:
        yield settings.host
    finally:
        bring_down(stack, state_dir / f"stack-{workers}")


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
    """One keep-alive HTTP/1.1 connection; enough of the protocol for the API's answers."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def exchange(self, request: bytes) -> int:
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await self.reader.readexactly(length)
        return status


async def _http_load(base_url: str, concurrency: int, seconds: float) -> HttpFigures:
    address = urlparse(base_url)
    requests = [predict_request(address.netloc, path.read_bytes()) for path in IMAGES]
    connections = [
        Connection(*await asyncio.open_connection(address.hostname, address.port))
        for _ in range(concurrency)
    ]
    for index in range(WARMUP_REQUESTS):
        await connections[0].exchange(requests[index % len(requests)])
    latencies: list[float] = []
    failures = 0
    deadline = time.perf_counter() + seconds

    async def user(connection: Connection, offset: int) -> None:
        nonlocal failures
        index = offset
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            status = await connection.exchange(requests[index % len(requests)])
            latencies.append(time.perf_counter() - started)
            failures += status != 200
            index += 1

    started = time.perf_counter()
    await asyncio.gather(*(user(c, offset) for offset, c in enumerate(connections)))
    elapsed = time.perf_counter() - started
    for connection in connections:
        connection.writer.close()
    return HttpFigures(
        requests_per_s=len(latencies) / elapsed,
        median_s=statistics.median(latencies),
        failures=failures,
    )


def http_load(base_url: str, concurrency: int, seconds: float) -> HttpFigures:
    return asyncio.run(_http_load(base_url, concurrency, seconds))


def table(title: str, rows: list[tuple[str, str]]) -> None:
    print(f"\n{title}")
    for label, value in rows:
        print(f"  {label:<62}{value:>22}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    seconds = parser.parse_args().seconds
    settings = load_settings()
    batch = settings.max_batch
    print(
        f"model {settings.model_name}, runtime {settings.runtime}, device {settings.device}, "
        f"NUM_THREADS {settings.num_threads}, MAX_BATCH {batch}, "
        f"MAX_WAIT_MS {settings.max_wait_ms:g}, {os.cpu_count()} cores; {seconds:g} s per figure",
        flush=True,
    )
    forward_1 = raw_throughput(settings, 1, 1, seconds, whole_job=False)
    forward_max = raw_throughput(settings, 1, batch, seconds, whole_job=False)
    job_1 = raw_throughput(settings, 1, 1, seconds, whole_job=True)
    raw = {
        workers: raw_throughput(settings, workers, batch, seconds, whole_job=True)
        for workers in (1, 2)
    }
    forward_max_2 = raw_throughput(settings, 2, batch, seconds, whole_job=False)
    stack: dict[int, HttpFigures] = {}
    with tempfile.TemporaryDirectory(prefix="stack-benchmark-") as state_dir:
        for workers in (1, 2):
            with running_stack(workers, Path(state_dir)) as base_url:
                if workers == 1:
                    one_user = http_load(base_url, 1, seconds)
                stack[workers] = http_load(base_url, 2 * batch * workers, seconds)
    overhead_ms = (one_user.median_s - job_1.median_s) * 1000

    table(
        "in-process model, no Redis, no HTTP (images/s)",
        [
            ("forward pass, batch 1, 1 process", f"{forward_1.images_per_s:.1f}"),
            (f"forward pass, batch {batch}, 1 process", f"{forward_max.images_per_s:.1f}"),
            (f"forward pass, batch {batch}, 2 processes", f"{forward_max_2.images_per_s:.1f}"),
            ("decode+preprocess+forward, batch 1, 1 process", f"{job_1.images_per_s:.1f}"),
        ]
        + [
            (f"decode+preprocess+forward, batch {batch}, {n} process(es)", f"{f.images_per_s:.1f}")
            for n, f in raw.items()
        ],
    )
    forward = {1: forward_max, 2: forward_max_2}
    table(
        "stack over HTTP (images/s; % of the same number of raw processes: whole job / forward)",
        [
            (
                f"{n} worker(s), {2 * batch * n} clients, {f.failures} failures",
                f"{f.requests_per_s:.1f}  {100 * f.requests_per_s / raw[n].images_per_s:.0f}% / "
                f"{100 * f.requests_per_s / forward[n].images_per_s:.0f}%",
            )
            for n, f in stack.items()
        ],
    )
    table(
        "latency at one user, 1 worker (ms)",
        [
            ("median end-to-end over HTTP", f"{one_user.median_s * 1000:.2f}"),
            ("median worker compute (decode+preprocess+forward)", f"{job_1.median_s * 1000:.2f}"),
            ("overhead of the stack", f"{overhead_ms:.2f}"),
        ],
    )
    print("\ngoals: overhead <= 3 ms; stack >= 85% of the raw throughput of the same workers")
    return 0


if __name__ == "__main__":
    sys.exit(main())
