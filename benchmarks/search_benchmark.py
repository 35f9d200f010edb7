"""How long the capacity search takes to an answer, and how close it lands: `inv capacity` against
stand-ins of c FIFO servers of D ms (tests/standin/server.py), whose capacity within the SLO a
long M/D/c simulation gives. Figures, not pass or fail; a tune costs this once per configuration.

Each tree (this one, and with --before another checkout, e.g. `git worktree add /tmp/before
67e3e47`) searches each stand-in with the same matrix: no `capacity` block, and matrix.json's
`run_time` (20s) unless --run-time says, so each tree probes as it would by default. Per scale: the
probes, the seconds spent probing, the whole command's seconds, and the error against the
simulation.

    .venv/bin/python benchmarks/search_benchmark.py [--before /tmp/before] [--scales md1 md2]
        [--run-time 10s] [--probes]
"""

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from harness.stack.network import free_port  # noqa: E402

SIMULATED_S = 3000  # long enough that the simulation's p95 is the queue's, not one schedule's
OVERHEAD_MS = 2  # HTTP and the stand-in's own time, beside its service time


@dataclass(frozen=True)
class StandIn:
    servers: int
    service_ms: float
    slo_ms: float

    @property
    def label(self) -> str:
        return f"M/D/{self.servers}, {self.service_ms:g} ms, p95 ≤ {self.slo_ms:g} ms"


STAND_INS = {
    "md1": StandIn(1, 20, 100),
    "md2": StandIn(2, 20, 100),
    "md4": StandIn(4, 20, 100),
    "md1-slo500": StandIn(1, 20, 500),
}


def truth(stand_in: StandIn) -> float:
    """The highest Poisson rate whose p95 latency in a long M/D/c simulation keeps the SLO."""
    service_s = stand_in.service_ms / 1000
    wait_s = (stand_in.slo_ms - stand_in.service_ms - OVERHEAD_MS) / 1000

    def p95_wait(rate: float) -> float:
        draw, now, waits = random.Random(1), 0.0, []
        free = [0.0] * stand_in.servers
        while now < SIMULATED_S:
            now += draw.expovariate(rate)
            soonest = min(range(stand_in.servers), key=free.__getitem__)
            start = max(now, free[soonest])
            free[soonest] = start + service_s
            waits.append(start - now)
        waits.sort()
        return waits[int(0.95 * len(waits))]

    low, high = 1.0, stand_in.servers / service_s
    while high - low > 0.05:
        middle = (low + high) / 2
        low, high = (middle, high) if p95_wait(middle) <= wait_s else (low, middle)
    return low


def search(repo: Path, stand_in: StandIn, run_time: str, folder: Path) -> dict:
    procfile = folder / "Procfile"
    procfile.write_text(
        f"model: {sys.executable} -m tests.standin.server --port ${{API_PORT}}"
        f" --service-ms {stand_in.service_ms:g} --servers {stand_in.servers}\n"
    )
    matrix = {
        "num_models_list": [1],
        "arrival_rate_list": [1],
        "host": f"http://127.0.0.1:{free_port()}",
        "backend": "local",
        "ceiling": False,
        "warmup_requests": 5,
        "slo": {"p95_ms": stand_in.slo_ms, "max_failure_ratio": 0.01},
        "stack": {"procfile": str(procfile)},
        "run_time": run_time,
    }
    (folder / "matrix.json").write_text(json.dumps(matrix))
    reports = folder / "reports"
    env = {
        **os.environ,
        "MATRIX": str(folder / "matrix.json"),
        "REPORTS": str(reports),
        "STACK_DIR": str(folder / "stack"),
        "PYTHONPATH": str(repo),  # its harness, and its stand-in (tests/standin/)
    }
    began = time.monotonic()
    done = subprocess.run(
        [str(Path(sys.executable).parent / "inv"), "capacity", "--models", "1"],
        cwd=repo,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    if done.returncode != 0:
        said = f"{done.stdout[-2000:]}{done.stderr[-2000:]}"
        raise SystemExit(f"{repo}: inv capacity failed:\n{said}")
    seconds = time.monotonic() - began
    scale = json.loads((reports / "cpu" / "capacity.json").read_text())["scales"]["1"]
    return {**scale, "wall_s": seconds}


def described(probe: dict) -> str:
    kind = "ramp to " if probe.get("ramp") else ""
    p95 = f"{probe['p95_ms']:.0f}" if probe["p95_ms"] is not None else "-"
    verdict = "in" if probe["within"] else "out"
    sure = "" if probe.get("settled") in (True, None) else "?"
    seconds = f":{probe['seconds']:.0f}s" if probe.get("seconds") is not None else ""
    return f"{kind}{probe['rate']:g}:{p95}ms:{verdict}{sure}{seconds}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", nargs="+", choices=sorted(STAND_INS), default=list(STAND_INS))
    parser.add_argument("--before", type=Path, help="another checkout, searched the same way")
    parser.add_argument("--run-time", default="20s", help="the matrix's run_time (matrix.json's)")
    parser.add_argument("--probes", action="store_true", help="print each probe too")
    options = parser.parse_args()
    trees = [("after", REPO)] + ([("before", options.before)] if options.before else [])
    print("| stand-in | tree | capacity (truth) | error | probes | probing s | command s |")
    print("|---|---|---|---|---|---|---|")
    for name in options.scales:
        stand_in = STAND_INS[name]
        expected = truth(stand_in)
        for tree, repo in trees:
            with tempfile.TemporaryDirectory() as folder:
                found = search(repo, stand_in, options.run_time, Path(folder))
            error = (found["capacity_rps"] or 0) / expected - 1
            print(
                f"| {stand_in.label} | {tree} | {found['capacity_rps']} ({expected:.1f}) |"
                f" {error:+.1%} | {len(found['probes'])} | {found['seconds']:.0f} |"
                f" {found['wall_s']:.0f} |",
                flush=True,
            )
            if options.probes:
                print("    " + " ".join(described(probe) for probe in found["probes"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
