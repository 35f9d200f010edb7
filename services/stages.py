"""Where a /predict request's time goes in this stack: its stages, in the order a request meets
them. The one list: the API exports each as `request_stage_seconds{stage=...}`
(services/api/metrics.py), the worker times its share (services/model/worker.py), and the
harness reads the names, the words and the roles from here for its default stage mapping
(harness/matrix/stack.py) and its sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

STAGE_METRIC = "request_stage_seconds"
# What kind of time a stage is: the harness's advice follows the kind, whatever the stack.
ROLES = ("api", "queue", "batch", "model", "transfer")


@dataclass(frozen=True)
class Stage:
    name: str
    said: str  # how a sentence names it
    role: str  # one of ROLES


STAGES = (
    Stage("upload", "receiving the upload", "api"),
    Stage("check", "checking the image", "api"),
    Stage("enqueue", "enqueueing", "transfer"),
    Stage("queue_wait", "queue wait", "queue"),  # queued -> taken by a worker
    Stage("batch_wait", "waiting for the batch to fill", "batch"),  # taken -> its batch starts
    Stage("decode", "decode and preprocessing", "model"),
    Stage("inference", "inference", "model"),
    Stage("return", "the answer's way back", "transfer"),  # pushed by the worker -> the API
)
STAGE_NAMES = tuple(stage.name for stage in STAGES)
