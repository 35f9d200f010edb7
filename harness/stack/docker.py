"""The Docker engine, its compose program, and what the Docker backends (compose, swarm) need of
it: the matrix's compose files, and on a GPU the engine's GPU support and the GPU image."""

import json
import shutil
import subprocess
from pathlib import Path

from harness import REPO_ROOT
from harness.gpu import Check
from harness.matrix import StackSettings
from harness.stack.base import Stack, StackError, Unusable

GPU_MODEL_IMAGE = "inference-loadbench-model:gpu"
CDI_SPECS = (Path("/etc/cdi"), Path("/var/run/cdi"))
CUDA_PROVIDER = "CUDAExecutionProvider"
PROVIDERS_PROBE = "import onnxruntime; print(','.join(onnxruntime.get_available_providers()))"


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


def compose_command() -> list[str]:
    """`docker compose` when the plugin is there, else the docker-compose v1 program."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is not None:
        return [legacy]
    raise StackError(
        "backend compose needs `docker compose` or `docker-compose`; neither was found "
        "(use backend local)"
    )


def compose_files(settings: StackSettings, target: str) -> list[str]:
    """The matrix's compose files for the target, as paths; Unusable naming what is missing."""
    names = settings.compose_files.get(target)
    if not names:
        raise Unusable(f"stack.compose_files.{target}: no compose files for this target")
    files = [str(REPO_ROOT / name) for name in names]
    for path in files:
        if not Path(path).is_file():
            raise Unusable(f"stack.compose_files.{target}: {path} does not exist")
    return files


def names_gpu_image(settings: StackSettings, target: str) -> bool:
    """Whether the target's compose files run the reference model's GPU image."""
    return any(
        GPU_MODEL_IMAGE in Path(path).read_text() for path in compose_files(settings, target)
    )


def docker_gpu_checks(reference_model: bool) -> list[Check]:
    """What the Docker backends need for the GPU: the engine, its GPU support, and for the
    reference model the GPU image with onnxruntime's CUDA provider."""
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
    return [runtime, _image_provider()] if reference_model else [runtime]


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


class EngineStack(Stack):
    """A stack the Docker engine runs from the matrix's compose files (compose, swarm): on a GPU
    it needs the engine's GPU support, and the GPU image where those files name it (on a swarm,
    every node's engine needs them; this node's is the one checked)."""

    @classmethod
    def serves_reference_model(cls, settings: StackSettings, target: str) -> bool:
        return names_gpu_image(settings, target)

    @classmethod
    def gpu_checks(cls, reference_model: bool) -> list[Check]:
        return docker_gpu_checks(reference_model)
