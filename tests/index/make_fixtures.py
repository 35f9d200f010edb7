"""Re-make tests/index/fixtures/: real sweeps by the real harness against the real local stack.

    .venv/bin/python tests/index/make_fixtures.py            # about 2 minutes on 2 cores

It runs harness.sweep.sweep_at_scale in its stack session (harness.session), the code behind
`nox -s "sweep(models=N)"`, with the
local backend (redis-server, the API under uvicorn, N model workers) and fixtures/matrix.json,
writing under fixtures/reports/ exactly what a sweep writes. Three sweeps:
  - every users x spawn point of the matrix at 1 and at 2 replicas;
  - one point again at another spawn rate, so the page's rule for several spawn rates meets
    real data;
  - one point at 2 replicas during which this script kills one of the model workers (SIGKILL,
    a crash), so the harness records a failed run with its reason and the worker's log.

The one change made to what the harness wrote: Locust's HTML reports are about 1 MB each, so
only the runs in KEEP_HTML keep theirs, and the `files` field of the others' metadata drops the
name (the page must cope with a run whose report is gone anyway). The index page the sweeps
wrote is removed too: the tests render their own. There is no GPU here, so there are no GPU
fixtures; the GPU/CPU arithmetic is tested in test_analysis.py on hand-built runs.
"""

import copy
import json
import os
import shutil
import signal
import sys
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT))

from harness.matrix import load_matrix  # noqa: E402
from harness.session import Command, at_each_scale  # noqa: E402
from harness.stack.network import free_port  # noqa: E402
from harness.sweep import sweep_at_scale  # noqa: E402

FIXTURES_DIR = Path(__file__).resolve().parent / "fixtures"
MATRIX_PATH = FIXTURES_DIR / "matrix.json"
REPORTS_DIR = FIXTURES_DIR / "reports"
TARGET = "cpu"
EXTRA_SPAWN_POINT = {"models": 2, "users": 4, "spawn_rate": 1}
FAILED_POINT = {"models": 2, "users": 16, "spawn_rate": 4}
KILL_AFTER_S = 6.0  # into the failing point's Locust run: past its 4 s ramp
KEEP_HTML = {"1_4_4", "2_8_4"}


def descendants(root_pid: int) -> list[tuple[int, str]]:
    """(pid, command line) of every process below root_pid: only what this script started."""
    children: dict[int, list[int]] = {}
    commands: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            commands[int(entry.name)] = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            )
        except OSError:
            continue  # the process ended while being read
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(parent, []).append(int(entry.name))
    found, pending = [], [root_pid]
    while pending:
        for child in children.get(pending.pop(), []):
            found.append((child, commands.get(child, "")))
            pending.append(child)
    return found


def kill_a_worker_during(stem: str, stop: threading.Event) -> None:
    """Once Locust runs the point `stem`, wait KILL_AFTER_S and SIGKILL one model worker."""
    while not stop.is_set():
        running = descendants(os.getpid())
        if any("locust" in command and stem in command for _, command in running):
            time.sleep(KILL_AFTER_S)
            workers = [
                pid
                for pid, command in descendants(os.getpid())
                if "services.model.worker" in command
            ]
            if workers:
                os.kill(workers[-1], signal.SIGKILL)
            return
        time.sleep(0.2)


def sweep(matrix_data: dict, models: int) -> bool:
    """One sweep at `models` replicas, its API on a free port (others may be using 8000)."""
    variant = FIXTURES_DIR / ".matrix-variant.json"
    on_free_port = {**matrix_data, "host": f"http://127.0.0.1:{free_port()}"}
    variant.write_text(json.dumps(on_free_port, indent=2))
    try:
        command = Command(
            load_matrix(variant), TARGET, "local", REPORTS_DIR, FIXTURES_DIR / ".stack"
        )
        [ok] = at_each_scale(command, [models], lambda session: sweep_at_scale(session, force=True))
        return ok
    finally:
        variant.unlink()


def with_points(matrix_data: dict, users: int, spawn_rate: float) -> dict:
    variant = copy.deepcopy(matrix_data)
    variant.update(num_users_list=[users], spawn_rate_list=[spawn_rate])
    return variant


def trim_html_reports() -> None:
    for meta_path in sorted((REPORTS_DIR / TARGET).glob("*.meta.json")):
        stem = meta_path.name.removesuffix(".meta.json")
        if stem in KEEP_HTML:
            continue
        (meta_path.parent / f"{stem}.html").unlink(missing_ok=True)
        meta = json.loads(meta_path.read_text())
        meta["files"] = [name for name in meta["files"] if name != f"{stem}.html"]
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")


def main() -> int:
    matrix_data = json.loads(MATRIX_PATH.read_text())
    shutil.rmtree(REPORTS_DIR, ignore_errors=True)
    for models in matrix_data["num_models_list"]:
        if not sweep(matrix_data, models):
            raise SystemExit(f"the sweep at {models} replicas had a failed run; fixtures not made")
    extra = EXTRA_SPAWN_POINT
    sweep(with_points(matrix_data, extra["users"], extra["spawn_rate"]), extra["models"])
    failing = FAILED_POINT
    stem = f"{failing['models']}_{failing['users']}_{failing['spawn_rate']}"
    stop = threading.Event()
    killer = threading.Thread(target=kill_a_worker_during, args=(stem, stop), daemon=True)
    killer.start()
    try:
        failed_ok = sweep(
            with_points(matrix_data, failing["users"], failing["spawn_rate"]), failing["models"]
        )
    finally:
        stop.set()
        killer.join()
    if failed_ok:
        raise SystemExit(f"{stem} was meant to fail (a worker killed) but passed")
    trim_html_reports()
    (REPORTS_DIR / "index.html").unlink()
    return 0


if __name__ == "__main__":
    sys.exit(main())
