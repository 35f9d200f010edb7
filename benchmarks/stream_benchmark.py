"""The load generator's own reach on streams: how many chunks a second one Locust process reads
while its ITL error stays under 1 ms at p99, and how many streams it holds at once. Figures, not
pass or fail.

The server is the streaming stand-in (tests/standin/llm_server.py, run as a process) with a
known gap between tokens, one token a chunk, every stream served at once: the ITL it sends is
the truth, and what the harness measures over it (the record's ITL p99, through the harness's
open loop and recorder: harness/run/floor.py's `locust_alone`) is the truth plus the generator's
error. Where the machine has two cores or more, the stand-in runs on the last and Locust on the
others, so that neither takes the other's time; the error still holds the stand-in's own
lateness, so it is an upper bound on the generator's. Each step also says how busy each process
was (% of one core over Locust's life, its start included): the one near 100 % is the limit.

- Chunks: open-loop Poisson arrivals at rising rates of streams of `--tokens` tokens, one every
  `--itl-ms`: rate × tokens chunks a second offered.
- Streams held: a closed loop of U users, each holding a long stream (`--hold-tokens` tokens
  `--hold-itl-ms` apart) and starting the next once it ends: U streams out at all times,
  U × 1000 / hold-itl-ms chunks a second offered. Users started together (U / 2 a second) get
  their chunks together, stream after stream, as a server decoding a batch sends them: the
  generator reads them in bursts.

Each climb stops at the first step whose ITL p99 error passes 1 ms or where a stream fails.

    .venv/bin/python benchmarks/stream_benchmark.py [--rates 40 80 160 320 480 640]
        [--users 50 100 200 400 800] [--itl-ms 5] [--tokens 64] [--hold-itl-ms 100]
        [--hold-tokens 50] [--run-s 6]
"""

import argparse
import json
import math
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from harness import REPO_ROOT
from harness.matrix import ClosedLoad, Matrix, RunPoint, load_matrix
from harness.run.floor import locust_alone
from harness.stack.network import free_port, port_in_use

TTFT_MS = 20.0  # the stand-in's time to first token, every prompt alike
ERROR_BOUND_MS = 1.0
START_S = 10.0
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def stand_in(port: int, itl_ms: float) -> subprocess.Popen:
    server = subprocess.Popen(
        [
            *(sys.executable, "-m", "tests.standin.llm_server", "--port", str(port)),
            *("--ttft-ms", str(TTFT_MS), "--ttft-ms-per-token", "0"),
            *("--itl-ms", str(itl_ms), "--tokens-per-chunk", "1"),
        ],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(server.pid, {cores[-1]})
    deadline = time.monotonic() + START_S
    while not port_in_use(port) and time.monotonic() < deadline:
        time.sleep(0.05)
    return server


def matrix_for(folder: Path, port: int, tokens: int) -> Matrix:
    """A matrix of one chat prompt answered with `tokens` tokens, against the stand-in."""
    prompts = folder / "prompts.jsonl"
    prompts.write_text(json.dumps({"prompt": "a short prompt"}) + "\n")
    matrix = {
        "num_models_list": [1],
        "run_time": "1s",  # each point names its own
        "host": f"http://127.0.0.1:{port}",
        "targets": ["cpu"],
        "backend": "local",
        "max_in_flight": 100_000,
        "request": {
            "body": "openai_chat",
            "model": "stand-in",
            "max_tokens": tokens,
            "prompts": str(prompts),
        },
    }
    path = folder / "matrix.json"
    path.write_text(json.dumps(matrix))
    return load_matrix(path)


def cpu_s(pid: int) -> float:
    """A live process's CPU time so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


def children_cpu_s() -> float:
    """The CPU time of this process's children once they have ended: Locust's."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def measured(matrix: Matrix, point: RunPoint, itl_ms: float, server: int) -> dict:
    """One step: the figures' errors against the stand-in's truth, and each side's CPU."""
    started, locust_before, server_before = time.monotonic(), children_cpu_s(), cpu_s(server)
    latency, stream = locust_alone(matrix, point, 1)
    wall_s = time.monotonic() - started
    busy = {
        "locust_cpu_percent": 100 * (children_cpu_s() - locust_before) / wall_s,
        "stand_in_cpu_percent": 100 * (cpu_s(server) - server_before) / wall_s,
    }
    if latency is None or stream is None or stream.itl_ms is None or stream.ttft_ms is None:
        return {"failed": f"no stream succeeded: {latency}", **busy}
    return {
        "streams": stream.streams,
        "failures": latency.failures,
        "itl_p99_error_ms": stream.itl_ms.p99 - itl_ms,
        "chunk_gap_p99_error_ms": stream.chunk_gap_ms.p99 - itl_ms if stream.chunk_gap_ms else None,
        "ttft_p99_error_ms": stream.ttft_ms.p99 - TTFT_MS,
        **busy,
    }


def within(found: dict) -> bool:
    return (
        "failed" not in found
        and not found["failures"]
        and found["itl_p99_error_ms"] < ERROR_BOUND_MS
    )


def climb(
    folder: Path,
    itl_ms: float,
    tokens: int,
    steps: list[tuple[dict, Callable[[Matrix], RunPoint]]],
) -> list[dict]:
    """Each step (what it offers, its point) against a fresh stand-in of this ITL, in turn,
    until one breaks the bound: it is shown, and the climb stops."""
    port = free_port()
    server = stand_in(port, itl_ms)
    results = []
    try:
        matrix = matrix_for(folder, port, tokens)
        for offered, point_of in steps:
            found = {**offered, **measured(matrix, point_of(matrix), itl_ms, server.pid)}
            results.append(found)
            print("  " + json.dumps({key: _rounded(value) for key, value in found.items()}))
            if not within(found):
                break
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
    return results


def _rounded(value):
    return round(value, 2) if isinstance(value, float) else value


def highest(results: list[dict], figure: str) -> str:
    kept = [found[figure] for found in results if within(found)]
    return f"{max(kept):.0f}" if kept else "none of those tried"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[40, 80, 160, 320, 480, 640])
    parser.add_argument("--users", type=int, nargs="+", default=[50, 100, 200, 400, 800])
    parser.add_argument("--itl-ms", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--hold-itl-ms", type=float, default=100.0)
    parser.add_argument("--hold-tokens", type=int, default=50)
    parser.add_argument("--run-s", type=int, default=6)
    options = parser.parse_args()
    cores = sorted(os.sched_getaffinity(0))
    if len(cores) > 1:
        os.sched_setaffinity(0, set(cores[:-1]))  # Locust, started from here, inherits them
    stream_ms = TTFT_MS + (options.tokens - 1) * options.itl_ms
    held_ms = TTFT_MS + (options.hold_tokens - 1) * options.hold_itl_ms
    # A closed loop's window holds a few of each user's streams: one that outlasts it is cut.
    held_s = max(options.run_s, math.ceil(3 * held_ms / 1000))
    with tempfile.TemporaryDirectory(prefix=".stream-benchmark.") as scratch:
        print(
            f"chunks: open loop (Poisson), streams of {options.tokens} tokens"
            f" {options.itl_ms:g} ms apart ({stream_ms:.0f} ms each), {options.run_s} s a rate"
        )
        chunks = climb(
            Path(scratch),
            options.itl_ms,
            options.tokens,
            [
                (
                    {"rate": rate, "chunks_per_s": rate * options.tokens},
                    lambda matrix, rate=rate: matrix.open_point(
                        "bench", 1, rate, f"{options.run_s}s"
                    ),
                )
                for rate in options.rates
            ],
        )
        print(
            f"streams held: closed loop, streams of {options.hold_tokens} tokens"
            f" {options.hold_itl_ms:g} ms apart ({held_ms / 1000:.1f} s each), {held_s} s"
            " after the ramp"
        )
        held = climb(
            Path(scratch),
            options.hold_itl_ms,
            options.hold_tokens,
            [
                (
                    {"users": users, "chunks_per_s": users * 1000 / options.hold_itl_ms},
                    lambda _, users=users: RunPoint(
                        "bench", 1, ClosedLoad(users, max(1.0, users / 2)), f"{held_s}s"
                    ),
                )
                for users in options.users
            ],
        )
    print(
        f"one Locust process, ITL p99 error under {ERROR_BOUND_MS:g} ms and no failure: up to"
        f" {highest(chunks, 'chunks_per_s')} chunks/s read;"
        f" up to {highest(held, 'users')} streams held at once"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
