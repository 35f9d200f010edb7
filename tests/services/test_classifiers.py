from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from image_kinds import CAT_CLASSES

from services.model.classifiers import get_classifier
from services.model.inference import top1
from services.model.labels import imagenet_labels
from services.model.preprocess import decode
from services.model.resnet import build_resnet50
from services.model.runtimes import OnnxRuntime, TorchRuntime

COFFEE_CLASSES = {"espresso", "cup", "coffee mug"}
LIMIT = 50_000_000


def test_labels_are_the_thousand_imagenet_classes_in_order() -> None:
    labels = imagenet_labels()
    assert len(labels) == 1000
    assert labels[0] == "tench"
    assert labels[281] == "tabby"
    assert labels[967] == "espresso"
    assert labels[999] == "toilet tissue"


def test_top1_is_the_softmax_maximum() -> None:
    logits = np.zeros((2, 1000), dtype=np.float32)
    logits[0, 281] = 10
    logits[1, 967] = 1
    first, second = top1(logits)
    assert first.label == "tabby" and first.score == pytest.approx(np.e**10 / (np.e**10 + 999))
    assert second.label == "espresso" and 0 < second.score < 0.01


def top5(logits: np.ndarray) -> set[str]:
    labels = imagenet_labels()
    return {labels[index] for index in np.argsort(logits)[::-1][:5]}


@pytest.fixture(scope="module")
def efficientnet_batch(sample_images) -> np.ndarray:
    classifier = get_classifier("efficientnet-lite0", None)
    return np.stack(
        [decode(sample_images[name], classifier.preprocessing, LIMIT) for name in ("cat", "coffee")]
    )


@pytest.mark.parametrize("runtime_name", ["onnxruntime", "torch"])
def test_efficientnet_recognises_the_cat_and_the_coffee(
    runtime_name: str, efficientnet_batch: np.ndarray, model_cache_dir: Path
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    runtime = (
        OnnxRuntime(classifier, "cpu", 1, model_cache_dir)
        if runtime_name == "onnxruntime"
        else TorchRuntime(classifier, "cpu", 1)
    )
    cat, coffee = runtime.logits(efficientnet_batch)
    assert top5(cat) & CAT_CLASSES
    assert top5(coffee) & COFFEE_CLASSES
    assert top1(cat[None])[0].label in CAT_CLASSES


def test_onnx_export_computes_what_torch_computes(
    efficientnet_batch: np.ndarray, model_cache_dir: Path
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    onnx_logits = OnnxRuntime(classifier, "cpu", 1, model_cache_dir).logits(efficientnet_batch)
    torch_logits = TorchRuntime(classifier, "cpu", 1).logits(efficientnet_batch)
    np.testing.assert_allclose(onnx_logits, torch_logits, atol=1e-3)


def test_resnet50_has_torchvision_layout_and_size() -> None:
    state = build_resnet50(None).state_dict()
    for key in (
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.num_batches_tracked",
        "layer2.3.bn3.weight",
        "layer3.5.conv2.weight",
        "layer4.2.conv3.weight",
        "fc.bias",
    ):
        assert key in state, key
    assert "layer3.6.conv1.weight" not in state
    assert "layer2.1.downsample.0.weight" not in state
    assert state["fc.weight"].shape == (1000, 2048)
    parameters = sum(p.numel() for p in build_resnet50(None).parameters())
    assert parameters == 25_557_032  # torchvision's resnet50


def test_resnet50_random_weights_are_seeded_and_saved_weights_load(tmp_path: Path) -> None:
    first, second = build_resnet50(None), build_resnet50(None)
    assert torch.equal(first.layer2[0].conv2.weight, second.layer2[0].conv2.weight)
    with torch.no_grad():
        first.fc.bias.fill_(0.5)
    weights = tmp_path / "resnet50.pth"
    torch.save(first.state_dict(), weights)
    loaded = build_resnet50(str(weights))
    assert torch.equal(loaded.fc.bias, first.fc.bias)
    assert get_classifier("resnet50", weights).labels_meaningful
    assert not get_classifier("resnet50", None).labels_meaningful


def test_resnet50_runs_in_both_runtimes(model_cache_dir: Path) -> None:
    classifier = get_classifier("resnet50", None)
    batch = np.random.default_rng(0).standard_normal((2, 3, 224, 224)).astype(np.float32)
    onnx_logits = OnnxRuntime(classifier, "cpu", 1, model_cache_dir).logits(batch)
    torch_logits = TorchRuntime(classifier, "cpu", 1).logits(batch)
    assert onnx_logits.shape == (2, 1000)
    np.testing.assert_allclose(onnx_logits, torch_logits, rtol=1e-3, atol=1e-3)
