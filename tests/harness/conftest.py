"""Harness fixtures: a workspace on a temporary matrix, and a tiny local-backend matrix.

Whatever a test's stack started is stopped afterwards, even when the test failed.
"""

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sweep_workspace import Workspace

from harness.stack.local import start_ticks


@pytest.fixture
def workspace(tmp_path: Path, repo_root: Path) -> Iterator[Workspace]:
    stack_dir = tmp_path / "stack"
    # The matrix alone says where the API listens (API_PORT would move it).
    inherited = {name: value for name, value in os.environ.items() if name != "API_PORT"}
    env = {
        **inherited,
        "MATRIX": str(tmp_path / "matrix.json"),
        "REPORTS": str(tmp_path / "reports"),
        "STACK_DIR": str(stack_dir),
        "PYTHONUNBUFFERED": "1",
    }
    space = Workspace(
        tmp_path, tmp_path / "matrix.json", tmp_path / "reports", stack_dir, env, repo_root
    )
    yield space
    state = space.state()
    if state is not None and state.get("backend") == "local":
        # A failing test must not leave its stack running: stop what it recorded.
        for process in state["processes"]:
            if process["pid"] and start_ticks(process["pid"]) == process["ticks"]:
                os.killpg(process["pid"], signal.SIGKILL)


@pytest.fixture
def local_matrix(free_port: int) -> dict:
    """A tiny matrix on a free port, local backend, a few seconds a run."""
    return {
        "num_models_list": [1, 2],
        "num_users_list": [1, 4],
        "spawn_rate_list": [1, 2],
        "run_time": "2s",
        "host": f"http://127.0.0.1:{free_port}",
        "targets": ["cpu"],
        "backend": "local",
        "warmup_requests": 2,
        "ready_timeout_s": 120,
    }
