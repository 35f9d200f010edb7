"""MODEL_NAME=onnx: the user's own ONNX classifier, served by a real worker behind the real API
and redis-server, measured by the real ceiling command.

The models are exported here from tiny torch modules whose answer is known beforehand: their
logits are the means of the normalised image's colour channels, so a red picture is "red", with
the softmax of those means as its score.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from stack_processes import REPO, LocalStack

from harness.stack.network import free_port
from services.model.classifiers import classifier_for
from services.model.inference import BatchClassifier
from services.model.labels import imagenet_labels
from services.model.runtimes import OnnxRuntime, ensure_onnx
from services.queue import Prediction
from services.settings import SettingsError, load_settings
from tests.waiting import wait_until

LABELS = ("red", "green", "blue")
COLOURS = {"red": (230, 30, 20), "green": (25, 200, 40), "blue": (10, 40, 220)}
SIDE = 32
# Not ImageNet's: the scores the stack answers show that the worker normalised with these.
MEAN = (0.5, 0.5, 0.5)
STD = (0.25, 0.25, 0.25)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PIXEL_LIMIT = 50_000_000


class ChannelMeans(torch.nn.Module):
    """Logits: the mean of each colour channel; beyond the three, constant low ones."""

    def __init__(self, channels_last: bool = False, classes: int = 3) -> None:
        super().__init__()
        self.channels_last = channels_last
        self.classes = classes

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        means = images.mean(dim=(1, 2) if self.channels_last else (2, 3))
        return torch.nn.functional.pad(means, (0, self.classes - 3), value=-10.0)


def export(
    module: torch.nn.Module, path: Path, shape: tuple[int, ...], dynamic: dict | None = None
) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notes
        torch.onnx.export(
            module,
            (torch.zeros(shape),),
            str(path),
            input_names=["image"],
            output_names=["logits"],
            dynamic_axes=dynamic,
            opset_version=17,
            dynamo=False,
        )
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("onnx-models")
    (folder / "labels.txt").write_text("\n".join(LABELS) + "\n")
    (folder / "two-labels.txt").write_text("red\ngreen\n")
    return {
        # Exported as most are without dynamic axes: the batch is fixed at 1.
        "rgb": export(ChannelMeans(), folder / "rgb.onnx", (1, 3, SIDE, SIDE)),
        "batch-of-2": export(ChannelMeans(), folder / "batch2.onnx", (2, 3, SIDE, SIDE)),
        # NHWC, every size dynamic, even the number of classes.
        "nhwc": export(
            ChannelMeans(channels_last=True),
            folder / "nhwc.onnx",
            (1, SIDE, SIDE, 3),
            {"image": {0: "batch", 1: "height", 2: "width"}, "logits": {0: "batch", 1: "classes"}},
        ),
        "imagenet": export(
            ChannelMeans(classes=1000),
            folder / "imagenet.onnx",
            (1, 3, SIDE, SIDE),
            {"image": {0: "batch"}, "logits": {0: "batch"}},
        ),
        "labels": folder / "labels.txt",
        "two-labels": folder / "two-labels.txt",
    }


def onnx_env(model: Path, **more: str) -> dict[str, str]:
    return {"MODEL_NAME": "onnx", "MODEL_PATH": str(model), **more}


def picture(colour: tuple[int, int, int]) -> bytes:
    encoded = io.BytesIO()
    Image.new("RGB", (48, 40), colour).save(encoded, "PNG")
    return encoded.getvalue()


def expected_score(
    colour: tuple[int, int, int], mean: tuple[float, ...], std: tuple[float, ...]
) -> float:
    """The softmax's top value for the channel means of a picture of one colour."""
    logits = (np.asarray(colour) / 255 - np.asarray(mean)) / np.asarray(std)
    probabilities = np.exp(logits - logits.max())
    return float(probabilities.max() / probabilities.sum())


def run(argv: list[str], env: dict[str, str], timeout_s: float) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, env={**os.environ, **env}, cwd=REPO, capture_output=True, text=True, timeout=timeout_s
    )


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, models: dict[str, Path]
) -> Iterator[LocalStack]:
    cache_dir = tmp_path_factory.mktemp("onnx-cache")  # nothing is exported into it
    local = LocalStack(tmp_path_factory.mktemp("onnx-stack"), cache_dir, {})
    try:
        worker = local.start_worker(
            "onnx",
            onnx_env(
                models["rgb"],
                MODEL_LABELS=str(models["labels"]),
                MODEL_MEAN=",".join(map(str, MEAN)),
                MODEL_STD=",".join(map(str, STD)),
                MAX_BATCH="4",
            ),
        )
        wait_until(lambda: not worker.running() or local.live_workers() >= 1, 90, "the onnx worker")
        assert worker.running(), worker.log_text()
        yield local
    finally:
        local.close()


def test_ready_reports_the_users_model_and_its_meaningful_labels(stack: LocalStack) -> None:
    ready = stack.http.get("/ready").json()
    assert ready["models"] == [
        {
            "model": "onnx:rgb.onnx",
            "runtime": "onnxruntime",
            "device": "cpu",
            "labels_meaningful": True,
        }
    ]
    assert ready["labels_meaningful"] is True and "note" not in ready
    assert list(Path(stack.env["MODEL_CACHE_DIR"]).iterdir()) == [], "nothing was exported"


def test_the_sample_photos_get_labels_from_the_labels_file(
    stack: LocalStack, sample_images
) -> None:
    for name, data in sample_images.items():
        response = stack.http.post("/predict", files={"file": (f"{name}.jpg", data)})
        assert response.status_code == 200, response.text
        body = response.json()
        assert set(body) == {"success", "prediction", "score"}
        assert body["success"] is True
        assert body["prediction"] in LABELS
        assert 0 <= body["score"] <= 1


def test_a_picture_of_one_colour_gets_that_colour_and_its_score(stack: LocalStack) -> None:
    for label, colour in COLOURS.items():
        response = stack.http.post("/predict", files={"file": ("colour.png", picture(colour))})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["prediction"] == label
        # The score is the one of MODEL_MEAN and MODEL_STD's normalisation, not ImageNet's.
        assert body["score"] == pytest.approx(expected_score(colour, MEAN, STD), rel=1e-4)
        assert body["score"] != pytest.approx(
            expected_score(colour, IMAGENET_MEAN, IMAGENET_STD), rel=1e-4
        )


def test_concurrent_pictures_are_answered_by_a_model_whose_batch_is_fixed_at_one(
    stack: LocalStack,
) -> None:
    wanted = [label for _ in range(6) for label in COLOURS]

    def predict(label: str) -> str:
        files = {"file": ("colour.png", picture(COLOURS[label]))}
        return stack.http.post("/predict", files=files).json()["prediction"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(predict, wanted, timeout=60)) == wanted


def test_the_ceiling_measures_the_users_model(models: dict[str, Path], tmp_path: Path) -> None:
    env = onnx_env(
        models["rgb"],
        MODEL_LABELS=str(models["labels"]),
        MAX_BATCH="4",
        MODEL_CACHE_DIR=str(tmp_path),
    )
    done = run([sys.executable, "-m", "services.model.ceiling", "--seconds", "0.3"], env, 120)
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert figures["images_per_s"] > 0
    assert figures["batch_size"] in (1, 4)


def test_a_labels_file_of_the_wrong_length_stops_the_worker_with_exit_2(
    models: dict[str, Path],
) -> None:
    # Redis is never reached: the labels are checked before the worker connects.
    env = onnx_env(
        models["rgb"],
        MODEL_LABELS=str(models["two-labels"]),
        REDIS_URL=f"redis://127.0.0.1:{free_port()}/0",
    )
    done = run([sys.executable, "-m", "services.model.worker"], env, 90)
    assert done.returncode == 2, done.stderr
    assert "MODEL_LABELS" in done.stderr
    assert "2 labels" in done.stderr and "3 outputs" in done.stderr


def test_prepare_checks_the_file_and_exports_nothing(
    models: dict[str, Path], tmp_path: Path
) -> None:
    cache_dir = tmp_path / "cache"
    env = onnx_env(models["rgb"], MODEL_CACHE_DIR=str(cache_dir))
    done = run([sys.executable, "-m", "services.model.prepare"], env, 120)
    assert done.returncode == 0, done.stderr
    assert str(models["rgb"]) in done.stdout and "nothing to export" in done.stdout
    assert not cache_dir.exists()
    classifier = classifier_for(load_settings(env))
    assert ensure_onnx(classifier, cache_dir) == models["rgb"] and not cache_dir.exists()
    digest = hashlib.sha256(models["rgb"].read_bytes()).hexdigest()[:16]
    assert classifier.fingerprint == digest


def test_prepare_refuses_a_file_that_is_not_onnx(models: dict[str, Path], tmp_path: Path) -> None:
    env = onnx_env(models["labels"], MODEL_CACHE_DIR=str(tmp_path))
    done = run([sys.executable, "-m", "services.model.prepare"], env, 120)
    assert done.returncode == 2
    assert "MODEL_PATH" in done.stderr and "not an ONNX model" in done.stderr


def test_a_dynamic_channels_last_model_takes_model_input_size(
    models: dict[str, Path], tmp_path: Path
) -> None:
    default = classifier_for(load_settings(onnx_env(models["nhwc"])))
    assert (default.preprocessing.crop, default.preprocessing.resize) == (224, 256)
    classifier = classifier_for(load_settings(onnx_env(models["nhwc"], MODEL_INPUT_SIZE="48")))
    assert classifier.channels_last and classifier.fixed_batch is None
    assert (classifier.preprocessing.crop, classifier.preprocessing.resize) == (48, 55)
    # Three outputs and no labels file: numbered labels, which say nothing.
    assert classifier.labels == ("class_0", "class_1", "class_2")
    assert classifier.labels_meaningful is False
    model = BatchClassifier(classifier, OnnxRuntime(classifier, "cpu", 1, tmp_path), PIXEL_LIMIT)
    done = model.classify({label: picture(colour) for label, colour in COLOURS.items()})
    assert done.forward_batch == 3
    for index, (label, colour) in enumerate(COLOURS.items()):
        answer = done.answers[label]
        assert isinstance(answer, Prediction) and answer.label == f"class_{index}"
        assert answer.score == pytest.approx(
            expected_score(colour, IMAGENET_MEAN, IMAGENET_STD), rel=1e-4
        )


def test_a_fixed_batch_model_runs_any_batch_in_passes_of_its_size(
    models: dict[str, Path], tmp_path: Path
) -> None:
    classifier = classifier_for(load_settings(onnx_env(models["batch-of-2"])))
    assert classifier.fixed_batch == 2 and not classifier.channels_last
    runtime = OnnxRuntime(classifier, "cpu", 1, tmp_path)
    for size in (1, 2, 3, 5):
        batch = np.random.default_rng(size).standard_normal((size, 3, SIDE, SIDE))
        logits = runtime.logits(batch.astype(np.float32))
        np.testing.assert_allclose(logits, batch.mean(axis=(2, 3)), rtol=1e-4, atol=1e-5)


def test_a_thousand_outputs_without_a_labels_file_are_imagenet_classes(
    models: dict[str, Path],
) -> None:
    classifier = classifier_for(load_settings(onnx_env(models["imagenet"])))
    assert classifier.labels == imagenet_labels()
    assert classifier.labels_meaningful is True


@pytest.mark.parametrize(
    ("model", "more", "variable"),
    [
        ("rgb", {"MODEL_INPUT_SIZE": "224"}, "MODEL_INPUT_SIZE"),  # the model's is fixed at 32
        ("rgb", {"MODEL_RESIZE": "31"}, "MODEL_RESIZE"),  # too small to crop 32 from
        ("labels", {}, "MODEL_PATH"),  # a text file
    ],
)
def test_what_cannot_be_served_names_its_variable(
    models: dict[str, Path], model: str, more: dict[str, str], variable: str
) -> None:
    with pytest.raises(SettingsError, match=variable):
        classifier_for(load_settings(onnx_env(models[model], **more)))


def test_a_blank_line_among_the_labels_names_model_labels(
    models: dict[str, Path], tmp_path: Path
) -> None:
    labels = tmp_path / "labels.txt"
    labels.write_text("red\n\nblue\n")
    with pytest.raises(SettingsError, match="MODEL_LABELS .* line 2 is blank"):
        classifier_for(load_settings(onnx_env(models["rgb"], MODEL_LABELS=str(labels))))
