"""The one model every stack of the rivals benchmark serves: this repository's own.

The same classifier, ONNX file, runtime, threads and preprocessing as a model worker
(examples/model.py, which the stacks of examples/ serve too), so the stacks differ only in how
they queue, batch and answer. Here each answer takes the API's /predict form, and each serving
process writes its pid where the benchmark looks for it, which is how the benchmark finds the
processes that run the model whatever stack started them.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from examples import model as shared  # noqa: E402
from services.model.inference import BatchClassifier  # noqa: E402
from services.queue import JobError, Prediction  # noqa: E402

MAX_BATCH = shared.MAX_BATCH
BATCH_TIMEOUT_S = shared.BATCH_TIMEOUT_S
PIDS_DIR = "RIVALS_PIDS_DIR"  # the folder each model process writes its pid into


def load_model() -> BatchClassifier:
    model = shared.load_model()
    folder = Path(os.environ[PIDS_DIR])
    (folder / str(os.getpid())).touch()
    return model


def classify(model: BatchClassifier, images: list[bytes]) -> list[dict]:
    """One forward pass for the batch; each answer in the API's /predict form."""
    return [_answer(answer) for answer in shared.classify(model, images)]


def _answer(answer: Prediction | JobError) -> dict:
    if isinstance(answer, JobError):
        return {"success": False, "error": answer.message}
    return {"success": True, "prediction": answer.label, "score": answer.score}
