"""The Redis protocol the API and the model workers share.

A job is one entry of the stream STREAM, field `image` holding the uploaded bytes (no shared
volume, so services may sit on different hosts). Workers read it through the consumer group
GROUP; the entry id is the job id. The answer is pushed to the list `result_key(job_id)`, on
which the API blocks (BLPOP), and expires after RESULT_TTL_S. A worker acknowledges and deletes
an entry in the same transaction that pushes its answer, so the stream holds exactly the jobs
accepted and not yet answered, and its length is the queue depth the API compares with
QUEUE_MAX_LEN.

Every live worker keeps `heartbeat_key(worker_id)` alive with a TTL; its value describes the
model the worker serves. Jobs pending on a consumer whose heartbeat has expired are claimed by a
survivor (see services.model.jobs), so nothing accepted is lost when a worker dies.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

STREAM = "loadbench:jobs"
GROUP = "model-workers"
IMAGE_FIELD = b"image"
RESULT_PREFIX = "loadbench:result:"
HEARTBEAT_PREFIX = "loadbench:heartbeat:"
JOBS_DONE_PREFIX = "loadbench:jobs-done:"
BATCH_SIZES_KEY = "loadbench:batch-sizes"

# An answer only waits for the BLPOP already parked on it; after a timeout nobody will read it.
RESULT_TTL_S = 60
# Per-worker job counters outlive their worker long enough for a sweep's reports to read them.
COUNTER_TTL_S = 24 * 3600
# A job handed to this many consumers that all died on it is answered with an error instead.
MAX_DELIVERIES = 3


def result_key(job_id: str) -> str:
    return RESULT_PREFIX + job_id


def heartbeat_key(worker_id: str) -> str:
    return HEARTBEAT_PREFIX + worker_id


def jobs_done_key(worker_id: str) -> str:
    return JOBS_DONE_PREFIX + worker_id


@dataclass(frozen=True)
class Prediction:
    label: str
    score: float


@dataclass(frozen=True)
class JobError:
    """A job that cannot be answered with a label; status is the HTTP status the API returns."""

    status: int
    message: str


def encode_answer(answer: Prediction | JobError) -> bytes:
    if isinstance(answer, Prediction):
        return json.dumps({"prediction": answer.label, "score": answer.score}).encode()
    return json.dumps({"status": answer.status, "error": answer.message}).encode()


def decode_answer(raw: bytes) -> Prediction | JobError:
    fields = json.loads(raw)
    if "prediction" in fields:
        return Prediction(label=fields["prediction"], score=float(fields["score"]))
    return JobError(status=int(fields["status"]), message=fields["error"])


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker announces in its heartbeat; /ready reports it."""

    worker_id: str
    model: str
    runtime: str
    device: str
    labels_meaningful: bool
    max_batch: int

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, raw: bytes) -> WorkerInfo:
        return cls(**json.loads(raw))
