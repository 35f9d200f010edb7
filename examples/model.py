"""The model every stack of examples/ (and of the rivals benchmark) serves: this repository's own.

The same classifier, ONNX file, runtime, threads and preprocessing as a model worker, read from the
same environment (MODEL_NAME, RUNTIME, NUM_THREADS, MODEL_CACHE_DIR: services/settings.py), so a
stack beside ours differs only in how it receives, queues, batches and answers requests. Every
serving framework calls the same two functions: load_model() once per model process, classify()
once per batch of uploaded images.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from services.model.classifiers import get_classifier
from services.model.inference import BatchClassifier
from services.model.runtimes import create_runtime, ensure_onnx
from services.queue import JobError, Prediction
from services.settings import load_settings

# How the frameworks batch: up to MAX_BATCH images gathered within BATCH_TIMEOUT_S of the first.
MAX_BATCH = 16
BATCH_TIMEOUT_S = 0.005


def onnx_file() -> Path:
    """The configured classifier's ONNX file in the cache, exported there when missing."""
    settings = load_settings()
    classifier = get_classifier(settings.model_name, settings.model_weights)
    return ensure_onnx(classifier, settings.model_cache_dir)


def load_model(onnx_dir: Path | None = None) -> BatchClassifier:
    """The configured classifier, warmed up by one forward pass.

    `onnx_dir`: where its ONNX file lies (TorchServe's unpacked model archive) instead of the
    cache; a missing file is exported there.
    """
    settings = load_settings()
    if onnx_dir is not None:
        settings = replace(settings, model_cache_dir=onnx_dir)
    classifier = get_classifier(settings.model_name, settings.model_weights)
    model = BatchClassifier(
        classifier, create_runtime(classifier, settings), settings.max_image_pixels
    )
    model.warm_up(1)
    return model


def classify(model: BatchClassifier, images: list[bytes]) -> list[Prediction | JobError]:
    """One forward pass for the batch: each image's top-1 label and score, in order, or why it
    cannot have one (JobError's status: 400 not an image, 413 too many pixels, 500 the model
    failed)."""
    answers = model.classify({str(index): image for index, image in enumerate(images)}).answers
    return [answers[str(index)] for index in range(len(images))]
