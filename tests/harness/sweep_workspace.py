"""A harness test's workspace: a temporary matrix, reports and stack folder, and the real CLIs.

Every command runs as a real process in its own process group, bounded in time.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
COMMAND_TIMEOUT_S = 300


@dataclass
class Workspace:
    """MATRIX, REPORTS and STACK_DIR of one test, all under its tmp_path."""

    root: Path
    matrix: Path
    reports: Path
    stack_dir: Path
    env: dict[str, str]
    repo_root: Path

    def write_matrix(self, **fields: object) -> Path:
        self.matrix.write_text(json.dumps(fields))
        return self.matrix

    def run(self, *args: str, timeout: float = COMMAND_TIMEOUT_S) -> subprocess.CompletedProcess:
        """A CLI (inv, nox) of the virtualenv, to completion."""
        process = self.spawn(*args)
        try:
            output, _ = process.communicate(timeout=timeout)
        finally:
            stop_group(process)
        return subprocess.CompletedProcess(process.args, process.returncode, output, "")

    def spawn(self, *args: str) -> subprocess.Popen:
        """A CLI started in its own process group, as a terminal would run it."""
        return subprocess.Popen(
            [str(VENV_BIN / args[0]), *args[1:]],
            cwd=self.repo_root,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )

    def state(self) -> dict | None:
        path = self.stack_dir / "state.json"
        return json.loads(path.read_text()) if path.exists() else None


def stop_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def process_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def stack_pids(state: dict) -> list[int]:
    return [process["pid"] for process in state["processes"] if process["pid"]]


class OutputReader:
    """Collects a process's output on a thread, so a test can wait for a line."""

    def __init__(self, process: subprocess.Popen) -> None:
        self.text = ""
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process: subprocess.Popen) -> None:
        for line in process.stdout:
            self.text += line
