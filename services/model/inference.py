"""One batch of jobs in, one answer per job out: decode, one forward pass, top-1 label."""

from __future__ import annotations

import logging

import numpy as np

from services.images import TooManyPixels, UndecodableImage
from services.model.classifiers import Classifier
from services.model.labels import imagenet_labels
from services.model.preprocess import decode
from services.model.runtimes import Runtime
from services.queue import JobError, Prediction

log = logging.getLogger(__name__)


def top1(logits: np.ndarray) -> list[Prediction]:
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = imagenet_labels()
    best = probabilities.argmax(axis=1)
    return [
        Prediction(label=labels[index], score=float(probabilities[row, index]))
        for row, index in enumerate(best)
    ]


class BatchClassifier:
    def __init__(self, classifier: Classifier, runtime: Runtime, max_image_pixels: int) -> None:
        self._classifier = classifier
        self._runtime = runtime
        self._max_image_pixels = max_image_pixels

    def warm_up(self, batch_size: int) -> None:
        crop = self._classifier.preprocessing.crop
        self._runtime.logits(np.zeros((batch_size, 3, crop, crop), dtype=np.float32))

    def classify(self, images: dict[str, bytes]) -> tuple[dict[str, Prediction | JobError], int]:
        """Answer every image by id; returns the answers and the forward pass's batch size.

        Bad bytes fail alone (400/413); a model failure fails the whole batch (500), and the
        worker carries on with the next one.
        """
        answers: dict[str, Prediction | JobError] = {}
        tensors: dict[str, np.ndarray] = {}
        for job_id, data in images.items():
            try:
                tensors[job_id] = decode(
                    data, self._classifier.preprocessing, self._max_image_pixels
                )
            except UndecodableImage as error:
                answers[job_id] = JobError(status=400, message=str(error))
            except TooManyPixels as error:
                answers[job_id] = JobError(status=413, message=str(error))
        if tensors:
            try:
                predictions = top1(self._runtime.logits(np.stack(list(tensors.values()))))
            except Exception as error:  # any model failure must not stop the worker.
                log.exception("forward pass failed on a batch of %d", len(tensors))
                failure = JobError(status=500, message=f"model failed: {type(error).__name__}")
                answers.update(dict.fromkeys(tensors, failure))
            else:
                answers.update(zip(tensors, predictions, strict=True))
        return answers, len(tensors)
