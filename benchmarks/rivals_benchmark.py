"""The stack against LitServe and Ray Serve serving the same model on the same cores.

    nox -s rivals-benchmark [-- --seconds 10 --rounds 2]

Three stacks, each with 2 model workers on this machine, serve this repository's model from the
same ONNX file with the same runtime, threads and preprocessing (benchmarks/rivals/model.py):
ours (the harness's local backend: redis-server, the API, 2 workers), LitServe (2 workers per
device, batches of up to 16 within 5 ms) and Ray Serve (2 replicas, the same batching, its
throughput-optimized mode). The same client (stack_benchmark's) loads each in turn: 1 client on
one photo (median latency), then 8 and 16 clients on the sample photos (images/s), with each
model process's CPU, the machine's and what the rest used (front ends, queues, proxies and the
client) at 8. The stacks are measured round after round, in the same order, so the machine's
drift spreads over all three; each figure is printed as the range over the rounds. Figures, not
pass/fail.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psutil
import requests
from stack_benchmark import CLIENTS, ONE_PHOTO, cpu_during, http_load, model_pids, running_stack

from harness.stack.local import LocalProcess
from harness.stack.network import free_port
from services.model.ceiling import SAMPLE_IMAGES

RIVALS_DIR = Path(__file__).resolve().parent / "rivals"
MORE_CLIENTS = 16
WORKERS = 2
START_TIMEOUT_S = 300.0  # Ray starts a whole cluster before its replicas load the model
STOP_TIMEOUT_S = 60.0
RIVAL_ENV = {"RAY_SERVE_THROUGHPUT_OPTIMIZED": "1", "RAY_USAGE_STATS_ENABLED": "0"}


@dataclass(frozen=True)
class Figures:
    one_client_median_ms: float
    images_per_s: float  # 8 clients
    more_clients_images_per_s: float
    worker_cpu: list[float]  # each model process, % of one core, at 8 clients
    machine_busy: float  # % of all cores, at 8 clients
    rest_cpu: float  # % of one core: everything but the model processes (the client too), at 8
    failures: int


def measure(base_url: str, pids: list[int], seconds: float) -> Figures:
    """The figures of a stack whose model processes are `pids`."""
    photos = list(SAMPLE_IMAGES)
    one = http_load(base_url, 1, seconds, [ONE_PHOTO])
    psutil.cpu_percent(interval=None)
    loaded, cpu = cpu_during(pids, lambda: http_load(base_url, CLIENTS, seconds, photos))
    busy = psutil.cpu_percent(interval=None)
    more = http_load(base_url, MORE_CLIENTS, seconds, photos)
    return Figures(
        one.median_s * 1000,
        loaded.requests_per_s,
        more.requests_per_s,
        cpu,
        busy,
        busy * psutil.cpu_count() - sum(cpu),
        one.failures + loaded.failures + more.failures,
    )


@contextmanager
def ours(state_dir: Path) -> Iterator[tuple[str, list[int]]]:
    with running_stack(WORKERS, state_dir) as (base_url, stack):
        yield base_url, model_pids(stack)


@contextmanager
def rival(app: str, state_dir: Path) -> Iterator[tuple[str, list[int]]]:
    """The rival's app on a free port, until its model processes are up and it answers."""
    base_url = f"http://127.0.0.1:{free_port()}"
    pids_dir = state_dir / f"{app}-pids"
    pids_dir.mkdir()
    server = LocalProcess(
        app,
        [sys.executable, str(RIVALS_DIR / f"{app}.py"), base_url.rsplit(":", 1)[1]],
        env={**RIVAL_ENV, "RIVALS_PIDS_DIR": str(pids_dir)},
        log=state_dir / f"{app}.log",
    )
    server.launch()
    try:
        _wait_until_serving(server, base_url, pids_dir)
        yield base_url, [int(path.name) for path in pids_dir.iterdir()]
    finally:
        server.stop(STOP_TIMEOUT_S)  # SIGTERM: Ray shuts its cluster down; then SIGKILL


def _wait_until_serving(server: LocalProcess, base_url: str, pids_dir: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if not server.running():
            raise SystemExit(f"{server.name} exited {server.exit_code()}:\n{_tail(server.log)}")
        if len(list(pids_dir.iterdir())) == WORKERS and _answers(base_url):
            return
        time.sleep(1)
    raise SystemExit(f"{server.name} not serving after {START_TIMEOUT_S:g} s:\n{_tail(server.log)}")


def _answers(base_url: str) -> bool:
    try:
        with ONE_PHOTO.open("rb") as photo:
            answer = requests.post(f"{base_url}/predict", files={"file": photo}, timeout=10)
        return answer.ok and answer.json().get("success") is True
    except requests.RequestException:
        return False


def _tail(path: Path, lines: int = 30) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


Served = AbstractContextManager[tuple[str, list[int]]]  # its base URL, its model processes
STACKS: dict[str, Callable[[Path], Served]] = {
    "ours": ours,
    "LitServe": lambda state_dir: rival("litserve_app", state_dir),
    "Ray Serve": lambda state_dir: rival("rayserve_app", state_dir),
}

ROWS: list[tuple[str, Callable[[Figures], list[float]], str, bool]] = [
    # label, figure(s) of one round, format, whether higher is better
    (f"images/s, {CLIENTS} clients", lambda f: [f.images_per_s], "{:.0f}", True),
    (f"images/s, {MORE_CLIENTS} clients", lambda f: [f.more_clients_images_per_s], "{:.0f}", True),
    (f"each model process's CPU, {CLIENTS} clients, %", lambda f: f.worker_cpu, "{:.0f}", True),
    (f"machine busy, {CLIENTS} clients, %", lambda f: [f.machine_busy], "{:.0f}", True),
    (
        f"everything else, {CLIENTS} clients, % of a core",
        lambda f: [f.rest_cpu],
        "{:.0f}",
        False,
    ),
    ("median latency, 1 client, ms", lambda f: [f.one_client_median_ms], "{:.1f}", False),
]


def spread(values: list[float], form: str) -> str:
    low, high = form.format(min(values)), form.format(max(values))
    return low if low == high else f"{low}–{high}"


def report(found: dict[str, list[Figures]]) -> None:
    names = list(found)
    print(f"\n{'':<44}" + "".join(f"{name:>16}" for name in names) + f"{'ours ÷ best':>14}")
    for label, figure, form, higher_is_better in ROWS:
        cells = {name: [v for f in found[name] for v in figure(f)] for name in names}
        middle = {name: statistics.median(v) for name, v in cells.items()}
        rivals = [middle[name] for name in names if name != "ours"]
        best = max(rivals) if higher_is_better else min(rivals)
        ratio = middle["ours"] / best if best else float("nan")
        row = "".join(f"{spread(cells[name], form):>16}" for name in names)
        print(f"{label:<44}{row}{ratio:>14.2f}")
    failures = {name: sum(f.failures for f in found[name]) for name in names}
    print(f"{'failed requests':<44}" + "".join(f"{failures[name]:>16}" for name in names))
    print("ours ÷ best: ours against the better rival, medians over rounds (latency: ÷ the lower)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="times each stack is measured")
    arguments = parser.parse_args()
    print(
        f"{WORKERS} model workers per stack, {os.cpu_count()} cores, {arguments.seconds:g} s per "
        f"figure, {arguments.rounds} round(s)",
        flush=True,
    )
    found: dict[str, list[Figures]] = {name: [] for name in STACKS}
    with tempfile.TemporaryDirectory(prefix="rivals-benchmark-") as folder:
        for round_number in range(arguments.rounds):
            for name, serve in STACKS.items():
                state_dir = Path(folder) / f"{round_number}-{name.replace(' ', '-')}"
                state_dir.mkdir()
                with serve(state_dir) as (base_url, pids):
                    figures = measure(base_url, pids, arguments.seconds)
                found[name].append(figures)
                print(f"round {round_number + 1}, {name}: {figures}", flush=True)
    report(found)
    return 0


if __name__ == "__main__":
    sys.exit(main())
