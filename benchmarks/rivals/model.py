"""The one model every stack of the rivals benchmark serves: this repository's own.

The same classifier, ONNX file, runtime, threads and preprocessing as a model worker
(`services.model`, read from the same environment), so the stacks differ only in how they queue,
batch and answer. Each serving process writes its pid where the benchmark looks for it, which is
how the benchmark finds the processes that run the model whatever stack started them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from services.model.classifiers import get_classifier  # noqa: E402
from services.model.inference import BatchClassifier  # noqa: E402
from services.model.runtimes import create_runtime  # noqa: E402
from services.queue import JobError  # noqa: E402
from services.settings import load_settings  # noqa: E402

MAX_BATCH = 16
BATCH_TIMEOUT_S = 0.005
PIDS_DIR = "RIVALS_PIDS_DIR"  # the folder each model process writes its pid into


def load_model() -> BatchClassifier:
    settings = load_settings()
    classifier = get_classifier(settings.model_name, settings.model_weights)
    model = BatchClassifier(
        classifier, create_runtime(classifier, settings), settings.max_image_pixels
    )
    model.warm_up(1)
    folder = Path(os.environ[PIDS_DIR])
    (folder / str(os.getpid())).touch()
    return model


def classify(model: BatchClassifier, images: list[bytes]) -> list[dict]:
    """One forward pass for the batch; each answer in the API's /predict form."""
    answers = model.classify({str(index): image for index, image in enumerate(images)}).answers
    return [_answer(answers[str(index)]) for index in range(len(images))]


def _answer(answer) -> dict:
    if isinstance(answer, JobError):
        return {"success": False, "error": answer.message}
    return {"success": True, "prediction": answer.label, "score": answer.score}
