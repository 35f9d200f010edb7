"""What a run was measured on: CPU, memory, GPU and the code revision, for each run's metadata."""

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from harness import REPO_ROOT


@dataclass(frozen=True)
class Machine:
    """What a run was measured on; any part may be unknown in older records."""

    cpu: str | None = None
    cores: int | None = None
    memory_gib: float | None = None
    gpu: str | None = None


def gpu_description() -> str | None:
    """The GPUs `nvidia-smi -L` lists, one per line, or None when it is missing or lists none."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return None
    try:
        listing = subprocess.run(
            [nvidia_smi, "-L"], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    gpus = [line.strip() for line in listing.stdout.splitlines() if line.startswith("GPU ")]
    if listing.returncode != 0 or not gpus:
        return None
    return "; ".join(gpus)


def cpu_description() -> str:
    try:
        cpuinfo = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown"


def memory_gib() -> float:
    try:
        meminfo = Path("/proc/meminfo").read_text()
    except OSError:
        return 0.0
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024**2, 1)
    return 0.0


def machine_description() -> Machine:
    return Machine(
        cpu=cpu_description(),
        cores=os.cpu_count() or 0,
        memory_gib=memory_gib(),
        gpu=gpu_description(),
    )


def git_revision() -> str | None:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return head.stdout.strip() if head.returncode == 0 else None
