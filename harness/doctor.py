"""`inv doctor`: what a GPU sweep needs, checked before anything starts.

Each missing piece is one line naming it and how to get it. The checks: the NVIDIA driver
(nvidia-smi) and the GPUs it lists with their memory; for the compose backend, the Docker
engine's GPU support (the NVIDIA runtime or CDI) and the GPU model image with onnxruntime's
CUDA provider; for the local backend, the CUDA provider in this virtualenv's onnxruntime; and
whether the matrix's replica counts fit on the card (harness/gpu.py).
"""

import importlib.util
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.gpu import CAP_SETTING, Card, GpuFitError, cards, replica_cap_mib
from harness.matrix import Matrix
from harness.stack.docker import docker_engine_answers
from harness.stack.lifecycle import model_env

GPU_MODEL_IMAGE = "inference-loadbench-model:gpu"
CDI_SPECS = (Path("/etc/cdi"), Path("/var/run/cdi"))
CUDA_PROVIDER = "CUDAExecutionProvider"
PROVIDERS_PROBE = "import onnxruntime; print(','.join(onnxruntime.get_available_providers()))"


@dataclass(frozen=True)
class Check:
    what: str
    ok: bool
    said: str  # the figures when ok, what is missing and how to get it when not


def gpu_checks(matrix: Matrix, backend: str) -> list[Check]:
    """Every check for a GPU sweep with this matrix and backend, in the order they depend."""
    if shutil.which("nvidia-smi") is None:
        return [
            Check(
                "NVIDIA driver",
                False,
                "no GPU here: nvidia-smi is not installed. Install the NVIDIA driver"
                " (it brings nvidia-smi) on a machine with an NVIDIA GPU",
            )
        ]
    found = cards()
    if not found:
        return [
            Check(
                "GPUs",
                False,
                "no GPU here: nvidia-smi lists none. Check that the driver is loaded"
                " (`nvidia-smi` alone says why)",
            )
        ]
    listed = "; ".join(f"GPU {card.index}: {card.name}, {card.memory_mib} MiB" for card in found)
    checks = [Check("GPUs", True, listed)]
    if backend == "compose":
        checks += _docker_checks()
    else:
        checks.append(_local_provider())
    checks += [_fit(matrix, found[0], models) for models in matrix.models_list]
    return checks


def _docker_checks() -> list[Check]:
    if not docker_engine_answers():
        return [Check("Docker engine", False, "`docker info` does not answer: start dockerd")]
    info = subprocess.run(
        ["docker", "info", "--format", "{{json .Runtimes}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    runtimes = json.loads(info.stdout or "{}") if info.returncode == 0 else {}
    cdi = any(folder.is_dir() and any(folder.glob("*nvidia*")) for folder in CDI_SPECS)
    if "nvidia" in runtimes or cdi:
        runtime = Check(
            "Docker GPU support", True, "NVIDIA runtime" if "nvidia" in runtimes else "CDI"
        )
    else:
        runtime = Check(
            "Docker GPU support",
            False,
            "the Docker engine has no NVIDIA runtime and no CDI spec: install the NVIDIA Container"
            " Toolkit, then `nvidia-ctk runtime configure --runtime=docker` and restart dockerd",
        )
    return [runtime, _image_provider()]


def _image_provider() -> Check:
    probe = subprocess.run(
        ["docker", "run", "--rm", "--entrypoint", "python", GPU_MODEL_IMAGE, "-c", PROVIDERS_PROBE],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if probe.returncode != 0:
        return Check(
            "GPU model image",
            False,
            f"{GPU_MODEL_IMAGE} did not run ({probe.stderr.strip()[-200:] or 'no output'}):"
            " build it with `make images`",
        )
    if CUDA_PROVIDER not in probe.stdout:
        return Check(
            "GPU model image",
            False,
            f"{GPU_MODEL_IMAGE}'s onnxruntime has no {CUDA_PROVIDER} ({probe.stdout.strip()}):"
            " rebuild it with `make images`",
        )
    return Check("GPU model image", True, f"{GPU_MODEL_IMAGE} has {CUDA_PROVIDER}")


def _local_provider() -> Check:
    if importlib.util.find_spec("onnxruntime") is None:
        return Check("onnxruntime", False, "not installed in this virtualenv: `make setup`")
    probe = subprocess.run(
        [sys.executable, "-c", PROVIDERS_PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if CUDA_PROVIDER in probe.stdout:
        return Check("onnxruntime CUDA provider", True, "in this virtualenv")
    return Check(
        "onnxruntime CUDA provider",
        False,
        "this virtualenv's onnxruntime has no CUDA provider: install onnxruntime-gpu at the"
        " lock's version (README, GPU) or use the compose backend",
    )


def _fit(matrix: Matrix, card: Card, models: int) -> Check:
    env = model_env(matrix.stack, "gpu")
    try:
        cap = replica_cap_mib(env, card, models)
    except GpuFitError as error:
        return Check(f"{models} replica(s) on GPU {card.index}", False, str(error))
    given = "" if CAP_SETTING in env else " (the largest that fits)"
    return Check(f"{models} replica(s) on GPU {card.index}", True, f"{CAP_SETTING}={cap}{given}")
