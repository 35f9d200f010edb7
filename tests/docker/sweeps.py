"""What the Docker tests share around a sweep: the docker CLI, the harness's environment for a
test's workspace, `nox -s sweep` run while a watcher thread looks at Docker or the stack, and
what a stack leaves behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Self

from harness import REPO_ROOT

SWEEP_TIMEOUT_S = 900
DOCKER_TIMEOUT_S = 300
NAMESPACE = "com.docker.stack.namespace"  # the label Swarm puts on a stack's objects


def docker(*args: str, host: str | None = None, check: bool = True) -> str:
    """The docker CLI's output, on this engine or the one at `host`; with `check`, a failure
    fails the test with docker's own message."""
    on = ["-H", host] if host is not None else []
    done = subprocess.run(
        ["docker", *on, *args], capture_output=True, text=True, timeout=DOCKER_TIMEOUT_S
    )
    if check and done.returncode != 0:
        raise AssertionError(f"docker {' '.join([*on, *args])}: {done.stderr}")
    return done.stdout


def node_state() -> str:
    """This engine's place in a swarm: inactive, active, ..."""
    return docker("info", "--format", "{{.Swarm.LocalNodeState}}").strip()


def harness_env(workspace: Path) -> dict[str, str]:
    """The harness reading the matrix and writing its reports and stack state in `workspace`."""
    return {
        **os.environ,
        "MATRIX": str(workspace / "matrix.json"),
        "REPORTS": str(workspace / "reports"),
        "STACK_DIR": str(workspace / "stack"),
    }


def nox_sweep(workspace: Path, session: str = "sweep") -> subprocess.CompletedProcess[str]:
    """The sweep of the workspace's matrix, as a person runs it, its output captured."""
    return subprocess.run(
        [sys.executable, "-m", "nox", "-s", session],
        cwd=REPO_ROOT,
        env=harness_env(workspace),
        capture_output=True,
        text=True,
        timeout=SWEEP_TIMEOUT_S,
    )


@contextmanager
def sweep_in_background(workspace: Path, *command: str) -> Iterator[subprocess.Popen[str]]:
    """A sweep's command started in its own process group, its output piped, for a test to act
    on mid-run; killed whole if it is still running when the block ends."""
    sweep = subprocess.Popen(
        command,
        cwd=REPO_ROOT,
        env=harness_env(workspace),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        yield sweep
    finally:
        if sweep.poll() is None:
            os.killpg(sweep.pid, signal.SIGKILL)
            sweep.wait()


def stack_leftovers(docker_host: str | None = None) -> dict[str, list[str]]:
    """The stack objects still on an engine; the manager's view (host None) adds the swarm's
    stacks and services."""
    label = f"label={NAMESPACE}"
    left = {
        "containers": docker("ps", "-aq", "--filter", label, host=docker_host).split(),
        "networks": docker("network", "ls", "-q", "--filter", label, host=docker_host).split(),
    }
    if docker_host is None:
        left["stacks"] = docker("stack", "ls", "--format", "{{.Name}}").split()
        left["services"] = docker("service", "ls", "-q", "--filter", label).split()
    return left


def nothing_left(docker_host: str | None = None) -> bool:
    return not any(stack_leftovers(docker_host).values())


class Watcher(threading.Thread):
    """Looks every `interval_s` while a sweep runs, until stopped or SWEEP_TIMEOUT_S have
    passed; as a context manager, it watches for the block's length."""

    def __init__(self, interval_s: float) -> None:
        super().__init__(daemon=True)
        self.interval_s = interval_s
        self.stopped = threading.Event()
        self.deadline = time.monotonic() + SWEEP_TIMEOUT_S

    def look(self) -> None:
        raise NotImplementedError

    def run(self) -> None:
        while not self.stopped.wait(self.interval_s) and time.monotonic() < self.deadline:
            self.look()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stopped.set()
        self.join(timeout=10)
