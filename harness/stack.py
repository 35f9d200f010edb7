"""The stack under test, one interface over two backends (compose, local).

A stack is brought up at N replicas, reports when a replica exits (the out-of-memory case), can
be restored to N, shows its logs, and always comes down. Its state is saved under STACK_DIR
(default .stack/) so `inv down` finds what `inv up` started.
"""

import json
import os
import shutil
import socket
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import requests

from harness import REPO_ROOT
from harness.interrupts import uninterrupted
from harness.matrix import Matrix

LOG_TAIL_LINES = 80
READY_POLL_S = 0.5


class StackError(Exception):
    """The stack could not be brought up or kept at its scale; the text carries its logs."""


@dataclass(frozen=True)
class ReplicaExit:
    """A process or container of the stack that is no longer running."""

    name: str
    exit_code: int | None
    reason: str
    log: str

    def describe(self) -> str:
        code = "unknown" if self.exit_code is None else self.exit_code
        return f"{self.name} {self.reason} (exit code {code})"


class Stack(ABC):
    backend: str

    def __init__(self, target: str, models: int, env: dict[str, str]) -> None:
        self.target = target
        self.models = models
        self.env = env

    @abstractmethod
    def start(self) -> None:
        """Start every service with `models` replicas; return without waiting for readiness."""

    @abstractmethod
    def exited(self) -> list[ReplicaExit]:
        """The processes or containers that stopped running."""

    @abstractmethod
    def restore(self) -> None:
        """Restart what exited, bringing the stack back to `models` replicas."""

    @abstractmethod
    def logs(self) -> str:
        """The tail of every service's log."""

    @abstractmethod
    def stop(self) -> None:
        """Stop and remove everything `start` made; safe to call twice."""

    @abstractmethod
    def backend_state(self) -> dict[str, Any]:
        """What this backend needs, beyond the common fields, to find the stack again."""

    def state(self) -> dict[str, Any]:
        """What another process needs to find this stack again (see `load_stack`)."""
        return {
            "backend": self.backend,
            "target": self.target,
            "models": self.models,
            "env": self.env,
            **self.backend_state(),
        }


def stack_dir() -> Path:
    return Path(os.environ.get("STACK_DIR") or REPO_ROOT / ".stack")


def state_path() -> Path:
    return stack_dir() / "state.json"


def api_port(host: str) -> int:
    parsed = urlparse(host)
    return parsed.port or (443 if parsed.scheme == "https" else 80)


def services_env(matrix: Matrix, target: str, models: int) -> dict[str, str]:
    """The services' environment: the matrix's, plus what the scale and target decide."""
    env = {"DEVICE": "cuda" if target == "gpu" else "cpu", **matrix.stack.env}
    env["EXPECTED_WORKERS"] = str(models)
    env["API_PORT"] = str(api_port(matrix.host))
    # A free port, so Redis on the host network (local backend, hostnet override) never collides.
    env["REDIS_PORT"] = str(free_port())
    return env


def docker_engine_answers() -> bool:
    docker = shutil.which("docker")
    if docker is None:
        return False
    try:
        info = subprocess.run(
            [docker, "info"], capture_output=True, timeout=20, check=False, text=True
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0


def choose_backend(requested: str) -> str:
    """`auto` becomes compose when a Docker engine answers, else local; the choice is printed."""
    if requested != "auto":
        return requested
    chosen = "compose" if docker_engine_answers() else "local"
    reason = "a Docker engine answers" if chosen == "compose" else "no Docker engine answers"
    print(f"backend auto -> {chosen} ({reason})", flush=True)
    return chosen


def create_stack(matrix: Matrix, target: str, models: int, backend: str) -> Stack:
    env = services_env(matrix, target, models)
    # The backends are imported here because each of them builds on this module.
    if backend == "local":
        from harness.local_stack import LocalStack

        return LocalStack.for_matrix(matrix, target, models, env, stack_dir())
    from harness.compose_stack import ComposeStack

    return ComposeStack.for_matrix(matrix, target, models, env)


def load_stack() -> Stack | None:
    """The stack `inv up` left running, or None."""
    try:
        state = json.loads(state_path().read_text())
    except FileNotFoundError:
        return None
    if state["backend"] == "local":
        from harness.local_stack import LocalStack

        return LocalStack.from_state(state)
    from harness.compose_stack import ComposeStack

    return ComposeStack.from_state(state)


def save_state(stack: Stack) -> None:
    path = state_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(stack.state(), indent=2))
    partial.replace(path)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def wait_ready(stack: Stack, matrix: Matrix) -> dict[str, Any]:
    """Poll the readiness URL until it counts every replica live; return its JSON answer."""
    config = matrix.stack
    url = matrix.host + config.ready_path
    deadline = time.monotonic() + matrix.ready_timeout_s
    last_answer = "no answer yet"
    while time.monotonic() < deadline:
        exited = stack.exited()
        if exited:
            details = "\n".join(f"{gone.describe()}\n{gone.log}" for gone in exited)
            raise StackError(f"the stack lost a process while starting:\n{details}")
        try:
            answer = requests.get(url, timeout=2)
            body = answer.json()
            live = body.get(config.ready_replicas_field) if isinstance(body, dict) else None
            last_answer = f"HTTP {answer.status_code} {answer.text[:200]}"
            if isinstance(live, int) and live >= stack.models:
                return body
        except (requests.RequestException, ValueError) as error:
            last_answer = f"{type(error).__name__}: {error}"
        time.sleep(READY_POLL_S)
    raise StackError(
        f"{url} did not report {config.ready_replicas_field} >= {stack.models} within "
        f"{matrix.ready_timeout_s:g}s (ready_timeout_s); last answer: {last_answer}\n"
        f"--- stack logs ---\n{stack.logs()}"
    )


def bring_up(matrix: Matrix, target: str, models: int, backend: str) -> tuple[Stack, dict]:
    """Start the stack at `models` replicas and wait until ready; it comes down on any error."""
    if load_stack() is not None:
        raise StackError(f"a stack is already up ({state_path()}); run `inv down` first")
    port = api_port(matrix.host)
    if port_in_use(port):
        raise StackError(
            f"port {port} of host {matrix.host} is already in use: stop what listens there "
            "or change `host` in the matrix"
        )
    stack = create_stack(matrix, target, models, backend)
    print(f"stack up: {backend}, target {target}, {models} replica(s) ...", flush=True)
    started = time.monotonic()
    try:
        save_state(stack)
        stack.start()
        save_state(stack)
        ready = wait_ready(stack, matrix)
    except BaseException:
        bring_down(stack)
        raise
    print(f"stack ready in {time.monotonic() - started:.1f}s", flush=True)
    return stack, ready


def restore(stack: Stack, matrix: Matrix) -> dict[str, Any]:
    """Bring a stack that lost replicas back to its scale before the next run."""
    print(f"restoring the stack to {stack.models} replica(s) ...", flush=True)
    stack.restore()
    save_state(stack)
    return wait_ready(stack, matrix)


def bring_down(stack: Stack) -> None:
    with uninterrupted():
        stack.stop()
        state_path().unlink(missing_ok=True)
    print("stack down", flush=True)


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])
