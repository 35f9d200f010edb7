from __future__ import annotations

from pathlib import Path

import numpy as np
from image_kinds import CAT_CLASSES, TEXT, decompression_bomb, truncated

from services.model.classifiers import get_classifier
from services.model.inference import BatchClassifier
from services.model.runtimes import OnnxRuntime
from services.queue import JobError, Prediction

LIMIT = 50_000_000


def test_bad_images_fail_alone_and_the_rest_share_one_forward_pass(
    sample_images, model_cache_dir: Path
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    model = BatchClassifier(classifier, OnnxRuntime(classifier, "cpu", 1, model_cache_dir), LIMIT)
    answers, forward_batch = model.classify(
        {
            "cat": sample_images["cat"],
            "text": TEXT,
            "coffee": sample_images["coffee"],
            "truncated": truncated(sample_images["rocket"]),
            "bomb": decompression_bomb(),
        }
    )
    assert forward_batch == 2
    assert isinstance(answers["cat"], Prediction) and answers["cat"].label in CAT_CLASSES
    assert answers["coffee"] == Prediction("espresso", answers["coffee"].score)
    assert isinstance(answers["text"], JobError) and answers["text"].status == 400
    assert isinstance(answers["truncated"], JobError) and answers["truncated"].status == 400
    assert isinstance(answers["bomb"], JobError) and answers["bomb"].status == 413


class BrokenRuntime:
    """Fault injection: a model that raises, which no real model here can be made to do."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


def test_a_model_failure_answers_every_job_of_the_batch_instead_of_raising(
    sample_images,
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    broken = BatchClassifier(classifier, BrokenRuntime(), LIMIT)
    answers, _ = broken.classify({"a": sample_images["cat"], "b": sample_images["coffee"]})
    assert answers == {
        "a": JobError(500, "model failed: RuntimeError"),
        "b": JobError(500, "model failed: RuntimeError"),
    }
