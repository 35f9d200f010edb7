"""The GPUs of this machine as nvidia-smi lists them, and whether N replicas fit on a card.

Each replica's model runtime is capped (GPU_MEM_LIMIT_MIB: onnxruntime's arena limit, or torch's
per-process memory fraction), but a process takes more than its cap: the CUDA context and the
libraries' workspaces, REPLICA_OVERHEAD_MIB each (a CUDA 12 context with lazy module loading
takes about 300 MiB; cuDNN and cuBLAS handles add the rest). Replicas fit on a card when
N × (cap + overhead) ≤ the card's memory. Without a cap in the matrix, the harness gives each
replica the largest one that fits.
"""

import shutil
import subprocess
from dataclasses import dataclass

REPLICA_OVERHEAD_MIB = 400
CAP_SETTING = "GPU_MEM_LIMIT_MIB"
QUERY = ["--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]


class GpuFitError(ValueError):
    """A scale that cannot fit on the card; the message gives the figures."""


@dataclass(frozen=True)
class Check:
    """One thing a GPU sweep needs (`inv doctor`)."""

    what: str
    ok: bool
    said: str  # the figures when ok, what is missing and how to get it when not


@dataclass(frozen=True)
class Card:
    index: int
    name: str
    memory_mib: int


def cards() -> list[Card]:
    """Every GPU nvidia-smi lists; none where it is missing or fails."""
    nvidia_smi = shutil.which("nvidia-smi")
    if nvidia_smi is None:
        return []
    try:
        listing = subprocess.run(
            [nvidia_smi, *QUERY], capture_output=True, text=True, timeout=20, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    if listing.returncode != 0:
        return []
    found = []
    for line in listing.stdout.splitlines():
        parts = [part.strip() for part in line.split(",")]
        if len(parts) == 3 and parts[0].isdigit() and parts[2].isdigit():
            found.append(Card(int(parts[0]), parts[1], int(parts[2])))
    return found


def largest_cap_mib(card: Card, replicas: int) -> int:
    """The cap that lets `replicas` share the card."""
    return card.memory_mib // replicas - REPLICA_OVERHEAD_MIB


def check_fit(card: Card, replicas: int, cap_mib: int) -> None:
    """Refuse a scale whose replicas cannot all fit on the card, with the figures."""
    needed = replicas * (cap_mib + REPLICA_OVERHEAD_MIB)
    if needed > card.memory_mib:
        fitting = card.memory_mib // (cap_mib + REPLICA_OVERHEAD_MIB)
        raise GpuFitError(
            f"{replicas} replicas need {replicas} × ({cap_mib} MiB cap + {REPLICA_OVERHEAD_MIB}"
            f" MiB CUDA context and libraries) = {needed} MiB, more than the"
            f" {card.memory_mib} MiB of GPU {card.index} ({card.name}); at this cap"
            f" {fitting} fit: lower {CAP_SETTING} in stack.env or run fewer replicas"
        )


def replica_cap_mib(env: dict[str, str], card: Card, replicas: int) -> int:
    """The cap each replica gets: the matrix's, checked, else the largest that fits."""
    given = env.get(CAP_SETTING, "").strip()
    cap = int(given) if given.isdigit() else largest_cap_mib(card, replicas)
    if cap <= 0:
        raise GpuFitError(
            f"{replicas} replicas cannot share the {card.memory_mib} MiB of GPU {card.index}"
            f" ({card.name}): each needs {REPLICA_OVERHEAD_MIB} MiB before any model memory"
        )
    check_fit(card, replicas, cap)
    return cap
