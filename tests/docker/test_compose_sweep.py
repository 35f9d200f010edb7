"""The compose path for real: images built offline, then `nox -s "sweep(models=2)"` on them.

Everything runs on the host network. While the sweep runs (the stack is gone once it ends), a
watcher reads the API's /metrics to see which workers answered jobs, and the host's socket table
to see that the API and Redis listen on 127.0.0.1 and nowhere else.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from harness import REPO_ROOT
from tests.docker.sweeps import SWEEP_TIMEOUT_S, Watcher, harness_env

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MODELS = 2
USERS = 4
SPAWN_RATE = 2
POLL_INTERVAL_S = 0.5
LISTEN_STATE = "0A"  # TCP_LISTEN in /proc/net/tcp
JOBS_LINE = re.compile(
    r'^model_worker_jobs_total\{worker="(?P<worker>[^"]+)"\} (?P<jobs>[0-9.e+]+)$'
)


def listening_addresses(port: int) -> set[str]:
    """The addresses sockets listen on at `port` in this network namespace, the host's."""
    addresses = set()
    for table in (Path("/proc/net/tcp"), Path("/proc/net/tcp6")):
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address_hex, port_hex = local.rsplit(":", 1)
            if state != LISTEN_STATE or int(port_hex, 16) != port:
                continue
            # The kernel prints each 32-bit word of the address in host (little-endian) order.
            raw = bytes.fromhex(address_hex)
            address = b"".join(raw[start : start + 4][::-1] for start in range(0, len(raw), 4))
            addresses.add(str(ipaddress.ip_address(address)))
    return addresses


class StackWatcher(Watcher):
    """Reads the API's /metrics, keeping each worker's highest job count, and notes the
    addresses the API and Redis listen on."""

    def __init__(self, api_port: int, stack_dir: Path) -> None:
        super().__init__(interval_s=POLL_INTERVAL_S)
        self.metrics_url = f"http://127.0.0.1:{api_port}/metrics"
        self.api_port = api_port
        self.state_path = stack_dir / "state.json"
        self.jobs_by_worker: dict[str, float] = {}
        self.listening: dict[str, set[str]] = {"api": set(), "redis": set()}

    def note_listening_addresses(self) -> None:
        self.listening["api"] |= listening_addresses(self.api_port)
        try:  # the harness saves the stack's environment, REDIS_PORT included, once it is up
            redis_port = int(json.loads(self.state_path.read_text())["env"]["REDIS_PORT"])
        except (OSError, ValueError, KeyError):
            return
        self.listening["redis"] |= listening_addresses(redis_port)

    def look(self) -> None:
        self.note_listening_addresses()
        try:
            with urllib.request.urlopen(self.metrics_url, timeout=2) as response:
                text = response.read().decode()
        except (urllib.error.URLError, OSError):
            text = ""  # the stack is not up yet, or already down
        for line in text.splitlines():
            match = JOBS_LINE.match(line)
            if match:
                worker, jobs = match["worker"], float(match["jobs"])
                self.jobs_by_worker[worker] = max(jobs, self.jobs_by_worker.get(worker, 0.0))


def compose_containers() -> dict[str, str]:
    """Every container Compose created, running or not: id -> project."""
    listed = subprocess.run(
        [
            "docker",
            "ps",
            "-a",
            "--filter",
            "label=com.docker.compose.project",
            "--format",
            '{{.ID}} {{.Label "com.docker.compose.project"}}',
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return dict(line.split(" ", 1) for line in listed.stdout.splitlines())


def hostnet_matrix(api_port: int) -> dict:
    matrix = json.loads((REPO_ROOT / "matrix.json").read_text())
    matrix.update(
        num_models_list=[MODELS],
        num_users_list=[USERS],
        spawn_rate_list=[SPAWN_RATE],
        run_time="6s",
        host=f"http://127.0.0.1:{api_port}",
        targets=["cpu"],
        backend="compose",
        warmup_requests=4,
        ready_timeout_s=240,
    )
    matrix["stack"]["compose_files"] = {
        "cpu": ["compose/docker-compose.yml", "compose/docker-compose.hostnet.yml"]
    }
    return matrix


def run_sweep(workspace: Path, log_path: Path) -> int:
    """`nox -s "sweep(models=2)"` in its own process group, killed whole if it overruns."""
    with log_path.open("wb") as log:
        sweep = subprocess.Popen(
            [sys.executable, "-m", "nox", "-s", f"sweep(models={MODELS})"],
            cwd=REPO_ROOT,
            env=harness_env(workspace),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            return sweep.wait(timeout=SWEEP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()
            return -signal.SIGKILL


def test_sweep_on_compose_with_two_model_containers(
    built_images,
    tmp_path: Path,
    free_port: int,
    capsys: pytest.CaptureFixture[str],
) -> None:
    seconds = {}
    build = built_images
    seconds.update({f"image {name}": spent for name, spent in build.seconds.items()})

    (tmp_path / "matrix.json").write_text(json.dumps(hostnet_matrix(free_port)))
    reports = tmp_path / "reports"
    containers_before = compose_containers()
    started = time.monotonic()
    try:
        with StackWatcher(free_port, tmp_path / "stack") as watcher:
            exit_code = run_sweep(tmp_path, tmp_path / "sweep.log")
    finally:
        seconds["sweep"] = round(time.monotonic() - started, 1)
        left_behind = {
            container: project
            for container, project in compose_containers().items()
            if container not in containers_before
        }
        if left_behind:  # fail below, but leave nothing running on this machine
            subprocess.run(["docker", "rm", "-f", *left_behind], capture_output=True, timeout=120)
    with capsys.disabled():
        print(f"\ncompose path timings (s): {seconds}; base image reused: {build.reused}")
        print(f"jobs answered per worker: {watcher.jobs_by_worker}; listening: {watcher.listening}")

    sweep_log = (tmp_path / "sweep.log").read_text(errors="replace")
    assert exit_code == 0, f"sweep failed ({exit_code}):\n{sweep_log[-4000:]}"
    assert not left_behind, f"containers left after the sweep: {left_behind}"
    served = {worker: jobs for worker, jobs in watcher.jobs_by_worker.items() if jobs > 0}
    assert len(served) == MODELS, f"workers that answered jobs: {watcher.jobs_by_worker}"
    assert watcher.listening == {"api": {"127.0.0.1"}, "redis": {"127.0.0.1"}}

    stem = f"{MODELS}_{USERS}_{SPAWN_RATE}"
    suffixes = (".html", "_stats.csv", "_stats_history.csv", "_failures.csv", "_exceptions.csv")
    # The reference stack exports its stages, so its queue over time is written too.
    telemetry = (".hdr", ".intervals.csv", ".resources.csv", ".stack.csv", ".telemetry.html")
    expected = {stem + suffix for suffix in (*suffixes, *telemetry, ".json", ".log", ".meta.json")}
    assert {path.name for path in (reports / "cpu").iterdir()} == expected
    meta = json.loads((reports / "cpu" / f"{stem}.meta.json").read_text())
    assert (meta["status"], meta["backend"], meta["models"]) == ("ok", "compose", MODELS), meta
    # Each container's cgroup was sampled: both replicas worked, and the API's stages arrived.
    replicas = [m for m in meta["resources"]["members"] if m["service"] == "model"]
    assert sorted(m["replica"] for m in replicas) == [str(n) for n in range(1, MODELS + 1)]
    assert all(m["cpu_peak"] > 10 and m["rss_peak_mib"] > 50 for m in replicas), replicas
    assert meta["stages"]["stages"]["inference"]["count"] > 0
    assert (reports / "index.html").is_file()
