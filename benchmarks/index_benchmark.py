"""The index page with 1,000 runs: how long `inv index` takes (the first time, writing every
run's page; and again, as after each run of a sweep, when the run pages exist), how big the
page is, how long headless Chromium takes to load it (figures with their goals, not pass/fail).

    .venv/bin/python benchmarks/index_benchmark.py [--runs 1000]

One real run first: a one-point sweep of the harness against the stand-in server
(tests/standin/server.py, with its stage metrics), so each run carries everything a current
record holds (exact latencies, stages, resources, windows). Its files are then copied under
1,000 names (replicas × users), each record rewritten through harness.record with its own name
and a latency scaled by its load, so the page draws 1,000 distinct points.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.matrix import ClosedLoad, load_matrix  # noqa: E402
from harness.pages.index import build_index  # noqa: E402
from harness.pages.telemetry import RUN_PAGE_SUFFIX  # noqa: E402
from harness.record import read_record, write_record  # noqa: E402
from harness.record.names import RECORD_SUFFIX, companion  # noqa: E402
from harness.stack.network import free_port  # noqa: E402

GOALS = {"first_s": 30.0, "render_s": 5.0, "page_mib": 5.0, "browser_s": 5.0}
STANDIN = "model: python -m tests.standin.server --port ${API_PORT} --service-ms 5"


def one_real_run(workdir: Path) -> tuple[Path, Path]:
    """A one-point sweep against the stand-in; its reports folder and its matrix."""
    procfile = workdir / "Procfile"
    procfile.write_text(STANDIN + "\n")
    matrix = workdir / "matrix.json"
    matrix.write_text(
        json.dumps(
            {
                "num_models_list": [1],
                "num_users_list": [4],
                "spawn_rate_list": [4],
                "run_time": "6s",
                "host": f"http://127.0.0.1:{free_port()}",
                "backend": "local",
                "warmup_requests": 2,
                "ceiling": False,
                "stack": {"procfile": str(procfile)},
            }
        )
    )
    reports = workdir / "reports"
    env = {
        **os.environ,
        "MATRIX": str(matrix),
        "REPORTS": str(reports),
        "STACK_DIR": str(workdir / "stack"),
    }
    inv = Path(sys.executable).parent / "inv"
    subprocess.run([str(inv), "sweep", "--models", "1"], cwd=REPO, env=env, check=True, timeout=300)
    return reports, matrix


def copies(reports: Path, count: int) -> int:
    """The real run's files under `count` names: replicas 1..10 × users 1..count/10."""
    source = next((reports / "cpu").glob(f"*{RECORD_SUFFIX}"))
    record = read_record(source)
    stem = record.name.stem
    files = [path for path in source.parent.iterdir() if path.name.startswith(stem)]
    made = 0
    for models in range(1, 11):
        for users in range(1, count // 10 + 1):
            name = dataclasses.replace(record.name, models=models, load=ClosedLoad(users, users))
            if name == record.name:
                continue
            new_stem = name.stem
            for path in files:
                if path.name.endswith((RECORD_SUFFIX, RUN_PAGE_SUFFIX)):
                    continue  # the record is rewritten; the run's page is the index's to write
                shutil.copyfile(path, path.with_name(new_stem + path.name.removeprefix(stem)))
            load = users / models
            latency = dataclasses.replace(
                record.latency,
                mean_ms=record.latency.mean_ms * load,
                p95_ms=record.latency.p95_ms * load,
            )
            renamed = dataclasses.replace(
                record,
                name=name,
                latency=latency,
                files=tuple(new_stem + file.removeprefix(stem) for file in record.files),
            )
            write_record(renamed, reports, reports)
            made += 1
    assert companion(source, ".log").exists()
    return made + 1


def browser_load_s(page: Path, profile: Path) -> float:
    chromium = shutil.which("chromium")
    if chromium is None:
        return float("nan")
    started = time.monotonic()
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            f"--user-data-dir={profile}",
            "--dump-dom",
            page.as_uri(),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=True,
        timeout=120,
    )
    return time.monotonic() - started


def verdict(value: float, goal: float) -> str:
    return "met" if value <= goal else "NOT met"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=1000, help="how many runs the page shows")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="index-benchmark-") as scratch:
        workdir = Path(scratch)
        reports, matrix_path = one_real_run(workdir)
        runs = copies(reports, arguments.runs)
        matrix = load_matrix(matrix_path)
        started = time.monotonic()
        page = build_index(reports, matrix)
        first_s = time.monotonic() - started
        started = time.monotonic()
        build_index(reports, matrix)
        render_s = time.monotonic() - started
        page_mib = page.stat().st_size / 2**20
        browser_s = browser_load_s(page, workdir / "profile")
    print(f"index page with {runs} runs")
    for label, value, unit, goal in (
        ("inv index, writing 1,000 run pages", first_s, "s", "first_s"),
        ("inv index, run pages kept (every run)", render_s, "s", "render_s"),
        ("index.html", page_mib, "MiB", "page_mib"),
        ("chromium loads it (headless, dump-dom)", browser_s, "s", "browser_s"),
    ):
        print(
            f"  {label:40} {value:7.2f} {unit:3}  goal ≤ {GOALS[goal]:g} {unit}: "
            f"{verdict(value, GOALS[goal])}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
