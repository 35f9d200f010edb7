from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from image_kinds import CAT_CLASSES, TEXT, decompression_bomb, truncated

from services.model.classifiers import get_classifier
from services.model.inference import BatchClassifier
from services.model.preprocess import decode
from services.model.runtimes import OnnxRuntime
from services.queue import JobError, Prediction

LIMIT = 50_000_000


def test_bad_images_fail_alone_and_the_rest_share_one_forward_pass(
    sample_images, model_cache_dir: Path
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    runtime = OnnxRuntime(classifier, "cpu", 1, model_cache_dir)
    model = BatchClassifier(classifier, runtime, LIMIT)
    done = model.classify(
        {
            "cat": sample_images["cat"],
            "text": TEXT,
            "coffee": sample_images["coffee"],
            "truncated": truncated(sample_images["rocket"]),
            "bomb": decompression_bomb(),
        }
    )
    answers = done.answers
    assert done.forward_batch == 2 and done.decode_s > 0 and done.inference_s > 0
    assert isinstance(answers["cat"], Prediction) and answers["cat"].label in CAT_CLASSES
    # The score is the softmax of the model's own logits for the photo, computed here apart.
    logits = runtime.logits(decode(sample_images["coffee"], classifier.preprocessing, LIMIT)[None])
    probabilities = np.exp(logits[0] - logits[0].max())
    probabilities /= probabilities.sum()
    assert answers["coffee"].label == "espresso"
    assert answers["coffee"].score == pytest.approx(float(probabilities.max()), rel=1e-5)
    assert 0 < answers["coffee"].score <= 1
    assert isinstance(answers["text"], JobError) and answers["text"].status == 400
    assert isinstance(answers["truncated"], JobError) and answers["truncated"].status == 400
    assert isinstance(answers["bomb"], JobError) and answers["bomb"].status == 413


class BrokenRuntime:
    """Fault injection: a model that raises, which no real model here can be made to do."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        raise RuntimeError("CUDA error: an illegal memory access was encountered")


class ShortRuntime:
    """Fault injection: a model answering one row too few for its batch."""

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return np.zeros((len(batch) - 1, 1000), dtype=np.float32)


@pytest.mark.parametrize(
    ("runtime", "error"),
    [(BrokenRuntime(), "RuntimeError"), (ShortRuntime(), "ValueError")],
    ids=["raises", "wrong batch size"],
)
def test_a_model_failure_answers_every_job_of_the_batch_instead_of_raising(
    sample_images, runtime, error: str
) -> None:
    classifier = get_classifier("efficientnet-lite0", None)
    broken = BatchClassifier(classifier, runtime, LIMIT)
    done = broken.classify({"a": sample_images["cat"], "b": sample_images["coffee"], "text": TEXT})
    assert done.answers == dict.fromkeys(
        ["a", "b", "text"], JobError(500, f"model failed: {error}")
    )
