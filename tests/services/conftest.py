from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from stack_processes import REPO

IMAGES = REPO / "locust" / "images"


@pytest.fixture(scope="session")
def model_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ONNX file, exported once per session by the real `prepare` command."""
    cache_dir = tmp_path_factory.mktemp("model-cache")
    subprocess.run(
        [sys.executable, "-m", "services.model.prepare"],
        env={**os.environ, "MODEL_CACHE_DIR": str(cache_dir)},
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    return cache_dir


@pytest.fixture(scope="session")
def sample_images() -> dict[str, bytes]:
    return {path.stem: path.read_bytes() for path in sorted(IMAGES.glob("*.jpg"))}
