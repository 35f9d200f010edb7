"""The command lines: clear messages and exit code 2 for bad configuration; prepare is atomic."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import onnxruntime
import pytest
import torch
from stack_processes import REPO

from harness.stack.network import free_port
from services.model.classifiers import get_classifier
from services.model.runtimes import onnx_path

WORKER = [sys.executable, "-m", "services.model.worker"]


def run(
    argv: list[str], env: dict[str, str], timeout_s: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=timeout_s
    )


@pytest.mark.parametrize(("name", "value"), [("MAX_BATCH", "0"), ("RUNTIME", "tensorrt")])
def test_worker_names_a_bad_variable_and_exits_2(name: str, value: str) -> None:
    result = run(WORKER, {name: value})
    assert result.returncode == 2
    assert name in result.stderr


def test_api_names_a_bad_variable_and_exits_2() -> None:
    api = [sys.executable, "-m", "uvicorn", "services.api.app:app", "--port", str(free_port())]
    result = run(api, {"MAX_UPLOAD_BYTES": "ten megabytes"})
    assert result.returncode == 2
    assert "MAX_UPLOAD_BYTES must be an integer" in result.stderr


@pytest.mark.skipif(
    torch.cuda.is_available() or "CUDAExecutionProvider" in onnxruntime.get_available_providers(),
    reason="this machine has a usable GPU: the worker would start",
)
@pytest.mark.parametrize("runtime", ["onnxruntime", "torch"])
def test_cuda_without_a_gpu_exits_with_a_clear_message(runtime: str, model_cache_dir: Path) -> None:
    # Redis is never reached: the device is checked before the worker connects.
    result = run(
        WORKER,
        {
            "DEVICE": "cuda",
            "RUNTIME": runtime,
            "MODEL_CACHE_DIR": str(model_cache_dir),
            "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
        },
    )
    assert result.returncode == 2
    assert "DEVICE=cuda" in result.stderr and "refusing to fall back to CPU" in result.stderr


def test_concurrent_prepares_leave_one_whole_onnx_file(tmp_path: Path) -> None:
    prepares = [
        subprocess.Popen(
            [sys.executable, "-m", "services.model.prepare"],
            env={**os.environ, "MODEL_CACHE_DIR": str(tmp_path)},
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(3)
    ]
    assert [prepare.wait(300) for prepare in prepares] == [0, 0, 0]
    expected = onnx_path(get_classifier("efficientnet-lite0", None), tmp_path)
    assert list(tmp_path.iterdir()) == [expected], "no partial file is left behind"
    session = onnxruntime.InferenceSession(str(expected))
    assert session.get_inputs()[0].shape[1:] == [3, 224, 224]
    assert expected.stat().st_mode & 0o044 == 0o044, "readable by other users"
