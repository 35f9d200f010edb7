"""The Redis protocol the API and the model workers share.

A job is one entry of the stream STREAM, field `image` holding the uploaded bytes (no shared
volume, so services may sit on different hosts) and `enqueued_at` when the API queued it (epoch
seconds: the worker measures the queue wait from it; hosts' clocks must agree). Workers read it
through the consumer group GROUP; the entry id is the job id. The answer is pushed to the list
`result_key(job_id)`, with the worker's timings, on which the API blocks (BLPOP), and expires
after RESULT_TTL_S. A worker acknowledges and deletes an entry in the same transaction that
pushes its answer, so the stream holds exactly the jobs accepted and not yet answered, and its
length is the queue depth the API compares with QUEUE_MAX_LEN.

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
ENQUEUED_AT_FIELD = b"enqueued_at"
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


@dataclass(frozen=True)
class WorkerTimings:
    """Where a job's time went inside the worker (seconds), and when its answer left."""

    queue_wait: float  # enqueued by the API -> taken by this worker
    batch_wait: float  # taken -> its batch started
    decode: float  # the batch's decode and preprocessing
    inference: float  # the batch's forward pass and top-1
    sent_at: float  # epoch seconds, as the answer was pushed


def encode_answer(answer: Prediction | JobError, timings: WorkerTimings | None = None) -> bytes:
    if isinstance(answer, Prediction):
        fields = {"prediction": answer.label, "score": answer.score}
    else:
        fields = {"status": answer.status, "error": answer.message}
    if timings is not None:
        fields["timings"] = asdict(timings)
    return json.dumps(fields).encode()


def decode_answer(raw: bytes) -> tuple[Prediction | JobError, WorkerTimings | None]:
    fields = json.loads(raw)
    timings = WorkerTimings(**fields["timings"]) if "timings" in fields else None
    if "prediction" in fields:
        return Prediction(label=fields["prediction"], score=float(fields["score"])), timings
    return JobError(status=int(fields["status"]), message=fields["error"]), timings


@dataclass(frozen=True)
class WorkerInfo:
    """What a worker announces in its heartbeat; /ready reports it."""

    worker_id: str
    model: str
    runtime: str
    device: str
    labels_meaningful: bool
    max_batch: int
    # How the worker batches, from its warm-up measurements (services/model/batching.py).
    wait_budget_ms: float = 0.0
    batching_pays: bool = False
    image_ms_by_batch: dict[str, float] | None = None  # per-image time at each batch size

    def encode(self) -> bytes:
        return json.dumps(asdict(self)).encode()

    @classmethod
    def decode(cls, raw: bytes) -> WorkerInfo:
        return cls(**json.loads(raw))
