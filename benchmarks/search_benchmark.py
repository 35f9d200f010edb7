"""How long the capacity search takes to an answer, and how close it lands: `inv capacity` against
a stand-in of c FIFO servers of D ms (tests/standin/server.py), whose capacity within the SLO an
M/D/c replay of the very schedule a probe sends gives (locust/schedules.py). Figures, not pass
or fail; a tune costs this once per configuration.

    .venv/bin/python benchmarks/search_benchmark.py [--servers 1 2] [--probe-time 10s]
        [--repo PATH]    # another checkout's harness, for a before/after in one sitting
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.stack.network import free_port  # noqa: E402

SERVICE_MS = 20
SLO_MS = 100


def schedule(rate: float, seconds: float) -> list[float]:
    sys.path.insert(0, str(REPO / "locust"))
    from schedules import schedule as seeded

    return seeded(rate, "poisson", seconds)


def truth(servers: int, seconds: float) -> float:
    """The highest rate whose p95 wait, on this schedule, leaves the SLO room for the service."""
    wait_s = (SLO_MS - SERVICE_MS - 2) / 1000

    def p95_wait(rate: float) -> float:
        free, waits = [0.0] * servers, []
        for arrival in schedule(rate, seconds):
            soonest = min(range(servers), key=free.__getitem__)
            start = max(arrival, free[soonest])
            free[soonest] = start + SERVICE_MS / 1000
            waits.append(start - arrival)
        return statistics.quantiles(waits, n=20)[-1]

    low, high = 1.0, servers * 1000 / SERVICE_MS * 1.5
    while high - low > 0.2:
        middle = (low + high) / 2
        low, high = (middle, high) if p95_wait(middle) <= wait_s else (low, middle)
    return low


def search(repo: Path, servers: int, probe_time: str, folder: Path) -> dict:
    procfile = folder / "Procfile"
    procfile.write_text(
        f"model: {sys.executable} -m tests.standin.server --port ${{API_PORT}}"
        f" --service-ms {SERVICE_MS} --servers {servers}\n"
    )
    matrix = {
        "num_models_list": [1],
        "arrival_rate_list": [1],
        "run_time": probe_time,
        "host": f"http://127.0.0.1:{free_port()}",
        "backend": "local",
        "ceiling": False,
        "warmup_requests": 5,
        "slo": {"p95_ms": SLO_MS, "max_failure_ratio": 0.01},
        "stack": {"procfile": str(procfile)},
    }
    (folder / "matrix.json").write_text(json.dumps(matrix))
    reports = folder / "reports"
    env = {
        **os.environ,
        "MATRIX": str(folder / "matrix.json"),
        "REPORTS": str(reports),
        "STACK_DIR": str(folder / "stack"),
        "PYTHONPATH": str(REPO),  # the stand-in lives in this checkout's tests/
    }
    began = time.monotonic()
    subprocess.run(
        [str(Path(sys.executable).parent / "inv"), "capacity", "--models", "1"],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
        timeout=1800,
    )
    seconds = time.monotonic() - began
    scale = json.loads((reports / "cpu" / "capacity.json").read_text())["scales"]["1"]
    return {"capacity": scale["capacity_rps"], "probes": len(scale["probes"]), "seconds": seconds}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--probe-time", default="10s")
    parser.add_argument("--repo", type=Path, default=REPO)
    options = parser.parse_args()
    seconds = int(options.probe_time.rstrip("s"))
    print(f"capacity search, {options.repo}: p95 ≤ {SLO_MS} ms, probes of {options.probe_time}")
    for servers in options.servers:
        expected = truth(servers, seconds)
        with tempfile.TemporaryDirectory() as folder:
            found = search(options.repo, servers, options.probe_time, Path(folder))
        error = (found["capacity"] or 0) / expected - 1
        print(
            f"  M/D/{servers}, {SERVICE_MS} ms: {found['capacity']} req/s against {expected:.1f}"
            f" ({error:+.1%}), {found['probes']} probes, {found['seconds']:.0f} s in all"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
