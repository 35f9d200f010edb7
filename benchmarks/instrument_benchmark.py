"""The instrument's own weight: one closed-loop run per backend, one after the other in one
sitting (local, then compose where a Docker engine answers), and what each run's record says of
the machine's CPU: the stack's, Locust's, the harness's, the Docker engine's and what no process
named, beside the stack's throughput. The harness's goal is under 2 % of a core, Locust
excepted. Figures, not pass or fail.

    .venv/bin/python benchmarks/instrument_benchmark.py [--backends local compose]
        [--models 2] [--users 8] [--run-time 20s] [--rounds 1]
        [--compose-files compose/docker-compose.yml ...]  # the matrix's own by default
        [--repo PATH]    # another checkout's harness, for a before/after in one sitting
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SWEEP_TIMEOUT_S = 900
NOT_THE_STACK = ("locust", "locust-worker", "harness", "docker-engine")


def run_once(repo: Path, backend: str, options: argparse.Namespace, folder: Path) -> dict:
    """One sweep of one point on `backend` with `repo`'s harness; its record."""
    matrix = json.loads((REPO / "matrix.json").read_text())
    matrix.pop("$schema", None)
    matrix.update(
        num_models_list=[options.models],
        num_users_list=[options.users],
        spawn_rate_list=[options.users],
        run_time=options.run_time,
        backend=backend,
        extend_until_stable=False,
    )
    if options.compose_files:
        matrix["stack"]["compose_files"]["cpu"] = options.compose_files
    (folder / "matrix.json").write_text(json.dumps(matrix))
    reports = folder / "reports"
    environment = {
        **os.environ,
        "MATRIX": str(folder / "matrix.json"),
        "REPORTS": str(reports),
        "STACK_DIR": str(folder / "stack"),
    }
    subprocess.run(
        [sys.executable, "-m", "nox", "-s", f"sweep(models={options.models})"],
        cwd=repo,
        env=environment,
        capture_output=True,
        timeout=SWEEP_TIMEOUT_S,
        check=True,
    )
    (record,) = (reports / "cpu").glob("*.meta.json")
    return json.loads(record.read_text())


def figures(record: dict) -> str:
    latency, resources = record["latency"], record["resources"]
    rps = (latency["requests"] - latency["failures"]) / latency["seconds"]
    used: dict[str, float] = {}
    for member in resources["members"]:
        who = member["service"] if member["service"] in NOT_THE_STACK else "stack"
        used[who] = used.get(who, 0.0) + member["cpu_mean"]
    unaccounted = resources.get("unaccounted_cpu_mean")

    def shown(who: str) -> str:
        return f"{used[who]:5.1f}" if who in used else "    –"

    return (
        f"{rps:6.1f} req/s, p95 {latency['p95_ms']:5.0f} ms | CPU, % of a core: machine"
        f" {resources['machine_cpu_mean']:5.1f}, stack {shown('stack')}, Locust"
        f" {shown('locust')}, harness {shown('harness')}, engine {shown('docker-engine')},"
        f" unaccounted {'    –' if unaccounted is None else f'{unaccounted:5.1f}'}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backends", nargs="+", default=["local", "compose"])
    parser.add_argument("--models", type=int, default=2)
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--run-time", default="20s")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--compose-files", nargs="+", default=None)
    parser.add_argument("--repo", type=Path, default=REPO)
    options = parser.parse_args()
    print(
        f"the instrument's weight, {options.repo}: {options.models} replicas,"
        f" {options.users} users, {options.run_time}"
    )
    for round_number in range(1, options.rounds + 1):
        for backend in options.backends:
            with tempfile.TemporaryDirectory(prefix="instrument-") as folder:
                record = run_once(options.repo, backend, options, Path(folder))
            print(f"  round {round_number}, {backend:8}: {figures(record)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
