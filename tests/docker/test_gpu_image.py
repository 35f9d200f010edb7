"""The GPU worker image builds here (no GPU, no CUDA torch: onnxruntime's CUDA build and PyPI's
CUDA libraries), and a worker started from it on a machine without a GPU exits 2, saying so."""

from __future__ import annotations

import subprocess

import pytest

from tools.docker_images import SERVICE_IMAGES

pytestmark = [pytest.mark.docker, pytest.mark.slow]

GPU_IMAGE = SERVICE_IMAGES["model-gpu"][1]


def run_in_image(*command: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    options = [
        argument for name, value in (env or {}).items() for argument in ("-e", f"{name}={value}")
    ]
    return subprocess.run(
        ["docker", "run", "--rm", "--network", "none", *options, GPU_IMAGE, *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_gpu_image_has_the_cuda_provider_and_its_libraries(built_images, capsys) -> None:
    probe = run_in_image(
        "python", "-c", "import onnxruntime as o; print(o.__version__, o.get_available_providers())"
    )
    assert probe.returncode == 0, probe.stderr
    assert "CUDAExecutionProvider" in probe.stdout
    # The CUDA runtime, cuBLAS and cuDNN the provider loads, from PyPI's wheels.
    listing = (
        "import glob, nvidia; root = list(nvidia.__path__)[0];"
        " print(' '.join(sorted({name.rsplit('/', 1)[1].split('.so')[0]"
        " for name in glob.glob(root + '/**/lib*.so*', recursive=True)})))"
    )
    libraries = run_in_image("python", "-c", listing).stdout.split()
    assert {"libcudart", "libcublas", "libcublasLt", "libcudnn"} <= set(libraries), libraries
    size = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", GPU_IMAGE],
        capture_output=True,
        text=True,
        check=True,
    )
    with capsys.disabled():
        seconds = built_images.seconds.get("model-gpu")
        print(f"\n{GPU_IMAGE}: {int(size.stdout) / 2**30:.2f} GiB, built in {seconds} s")


def test_a_gpu_worker_without_a_gpu_exits_2_with_its_message(built_images) -> None:
    worker = run_in_image(env={"DEVICE": "cuda", "REDIS_URL": "redis://127.0.0.1:9/0"})
    assert worker.returncode == 2, worker.stdout + worker.stderr
    assert "worker: DEVICE=cuda but onnxruntime could not start its CUDA provider" in worker.stderr
