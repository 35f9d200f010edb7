"""The second model: ResNet-50 with seeded random weights, served by a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_processes import LocalStack


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, model_cache_dir: Path) -> Iterator[LocalStack]:
    local = LocalStack(tmp_path_factory.mktemp("resnet"), model_cache_dir, {})
    try:
        local.start_worker("resnet", {"MODEL_NAME": "resnet50", "MAX_BATCH": "2"})
        local.wait_for_workers(1, timeout_s=180)
        yield local
    finally:
        local.close()


def test_resnet50_answers_and_says_its_labels_are_meaningless(
    stack: LocalStack, sample_images
) -> None:
    response = stack.http.post("/predict", files={"file": ("cat.jpg", sample_images["cat"])})
    assert response.status_code == 200
    assert set(response.json()) == {"success", "prediction", "score"}
    ready = stack.http.get("/ready").json()
    assert ready["models"] == [
        {"model": "resnet50", "runtime": "onnxruntime", "device": "cpu", "labels_meaningful": False}
    ]
    assert ready["labels_meaningful"] is False
    assert "meaningless" in ready["note"]
    assert "meaningless" in (stack.log_dir / "worker-resnet.log").read_text()
