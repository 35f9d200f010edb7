"""The load generator's own floor: the latency Locust reports, through the harness's open loop
(locust/openloop.py, the recorder), against a null endpoint that answers at once
(harness/run/floor.py), at a few rates and numbers of Locust processes, with the matrix's
request (the 5 sample images as multipart posts by default). Whatever it measures there sits
under every figure of a run at that rate. Figures, not pass or fail.

    .venv/bin/python benchmarks/generator_benchmark.py [--rates 100 400 1000] [--workers 1 2]
        [--repo PATH]    # another checkout's harness, for a before/after in one sitting
"""

import argparse
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Run inside the checkout measured, so that its own load generator is the one measured.
PROBE = """
import json, sys
from harness.matrix import load_matrix
from harness.run import floor
measure = getattr(floor, "measure", None) or floor._measure
found = measure(load_matrix(), float(sys.argv[1]), int(sys.argv[2]))
print(json.dumps({"p50_ms": found.p50_ms, "p99_ms": found.p99_ms}))
"""


def floor_of(repo: Path, rate: float, workers: int) -> dict:
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, str(rate), str(workers)],
        cwd=repo,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    return json.loads(probe.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rates", type=float, nargs="+", default=[100, 400, 1000])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repo", type=Path, default=REPO)
    options = parser.parse_args()
    print(f"the load generator's floor, {options.repo}: 5 s against a null endpoint")
    for workers in options.workers:
        for rate in options.rates:
            found = floor_of(options.repo, rate, workers)
            print(
                f"  {rate:g} req/s, {workers} Locust process(es): p50 {found['p50_ms']} ms,"
                f" p99 {found['p99_ms']} ms"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
