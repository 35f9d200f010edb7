"""When a worker waits for its batch to fill: only when waiting can pay.

At warm-up the worker times its forward pass per image at batch 1 and at a few sizes up to
MAX_BATCH. Batching pays when some size is at least PAYS_BELOW cheaper per image than batch 1
(a GPU, whose cost per batch is nearly flat); then the worker may wait up to DEFAULT_WAIT_MS
for more jobs. Where it does not pay (one CPU thread here: batch 16 is slower per image than
batch 1), the worker never waits: it takes what is queued and starts. MAX_WAIT_MS, when set,
wins over the measurement.

Waiting also stops as soon as a short slice brings no job: the worker cannot then expect more
(a closed loop whose clients all wait on answers, or a quiet moment), whatever the budget.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from services.model.runtimes import Runtime

DEFAULT_WAIT_MS = 5.0
PAYS_BELOW = 0.8  # per-image time at the best batch size ÷ at batch 1
MEASURE_S = 0.3  # per batch size
SIZES = (1, 2, 4, 8, 16, 32, 64)


@dataclass(frozen=True)
class BatchingChoice:
    image_ms_by_batch: dict[int, float]
    pays: bool
    wait_budget_ms: float
    explicit: bool  # MAX_WAIT_MS set: the measurement only informs


def per_image_ms(runtime: Runtime, template: np.ndarray, batch: int, seconds: float) -> float:
    """The forward pass's time per image at this batch size (the best of repeated passes)."""
    inputs = np.repeat(template, batch, axis=0)
    runtime.logits(inputs)  # the first pass of a new shape may allocate: not timed
    best = float("inf")
    deadline = time.perf_counter() + seconds
    while True:
        started = time.perf_counter()
        runtime.logits(inputs)
        best = min(best, time.perf_counter() - started)
        if time.perf_counter() > deadline:
            return 1000 * best / batch


def choose(
    runtime: Runtime, template: np.ndarray, max_batch: int, max_wait_ms: float | None
) -> BatchingChoice:
    sizes = [size for size in SIZES if size < max_batch] + [max_batch]
    measured = {size: per_image_ms(runtime, template, size, MEASURE_S) for size in sizes}
    pays = min(measured.values()) <= PAYS_BELOW * measured[1]
    if max_wait_ms is not None:
        return BatchingChoice(measured, pays, max_wait_ms, explicit=True)
    return BatchingChoice(measured, pays, DEFAULT_WAIT_MS if pays else 0.0, explicit=False)
