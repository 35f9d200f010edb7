"""One batch of jobs in, one answer per job out: decode, one forward pass, top-1 label."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from services.images import TooManyPixels, UndecodableImage
from services.model.classifiers import Classifier
from services.model.labels import imagenet_labels
from services.model.preprocess import decode
from services.model.runtimes import Runtime
from services.queue import JobError, Prediction

log = logging.getLogger(__name__)


def top1(logits: np.ndarray, labels: tuple[str, ...] | None = None) -> list[Prediction]:
    """The most probable class of each row, named from `labels` (ImageNet's by default)."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    labels = imagenet_labels() if labels is None else labels
    best = probabilities.argmax(axis=1)
    return [
        Prediction(label=labels[index], score=float(probabilities[row, index]))
        for row, index in enumerate(best)
    ]


@dataclass(frozen=True)
class Classified:
    answers: dict[str, Prediction | JobError]
    forward_batch: int  # images in the forward pass
    decode_s: float  # decoding and preprocessing every image of the batch
    inference_s: float  # the forward pass and top-1


class BatchClassifier:
    def __init__(self, classifier: Classifier, runtime: Runtime, max_image_pixels: int) -> None:
        self._classifier = classifier
        self._runtime = runtime
        self._max_image_pixels = max_image_pixels

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def blank(self, batch_size: int) -> np.ndarray:
        crop = self._classifier.preprocessing.crop
        return np.zeros((batch_size, 3, crop, crop), dtype=np.float32)

    def warm_up(self, batch_size: int) -> float:
        """One forward pass at `batch_size`; its seconds."""
        started = time.perf_counter()
        self._runtime.logits(self.blank(batch_size))
        return time.perf_counter() - started

    def classify(self, images: dict[str, bytes]) -> Classified:
        """Answer every image by id.

        Bad bytes fail alone (400/413). Anything else that fails (decoding beyond the image's
        own fault, the forward pass, an output of the wrong shape, post-processing) fails the
        whole batch with a 500, and the worker carries on with the next one.
        """
        answers: dict[str, Prediction | JobError] = {}
        tensors: dict[str, np.ndarray] = {}
        started = time.perf_counter()
        try:
            for job_id, data in images.items():
                try:
                    tensors[job_id] = decode(
                        data, self._classifier.preprocessing, self._max_image_pixels
                    )
                except UndecodableImage as error:
                    answers[job_id] = JobError(status=400, message=str(error))
                except TooManyPixels as error:
                    answers[job_id] = JobError(status=413, message=str(error))
            decoded = time.perf_counter()
            if tensors:
                logits = self._runtime.logits(np.stack(list(tensors.values())))
                labels = self._classifier.labels
                if logits.ndim != 2 or logits.shape != (len(tensors), len(labels)):
                    raise ValueError(
                        f"the model answered {logits.shape} for a batch of {len(tensors)} images"
                        f" and {len(labels)} labels"
                    )
                answers.update(zip(tensors, top1(logits, labels), strict=True))
        except Exception as error:  # any model failure must not stop the worker
            log.exception("batch of %d failed", len(images))
            failure = JobError(status=500, message=f"model failed: {type(error).__name__}")
            return Classified(dict.fromkeys(images, failure), 0, 0.0, time.perf_counter() - started)
        return Classified(answers, len(tensors), decoded - started, time.perf_counter() - decoded)
