"""`python -m services.model.worker`: serve the Redis queue with dynamic batching.

Start-up: check settings and device, load the model, warm up and measure whether batching pays
(services.model.batching), then announce itself with a heartbeat that lasts while the loop
makes progress (services.model.heartbeat). SIGTERM (or SIGINT) finishes the batch in hand,
acknowledges it and exits 0.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from types import FrameType

import redis

from services.model.batching import choose
from services.model.classifiers import classifier_for
from services.model.heartbeat import Heartbeat, Progress
from services.model.inference import BatchClassifier
from services.model.jobs import Job, JobQueue, collect_batch
from services.model.runtimes import DeviceUnavailable, create_runtime
from services.queue import JobError, WorkerInfo, WorkerTimings
from services.settings import Settings, SettingsError, load_settings

log = logging.getLogger("services.model.worker")

# How long one blocking read waits before the loop looks at the stop flag and dead consumers.
READ_BLOCK_MS = 500
REDIS_START_TIMEOUT_S = 60


class StopFlag:
    def __init__(self) -> None:
        self.stopping = False

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        log.info("signal %d: finishing the batch in hand, then exiting", signum)
        self.stopping = True


def connect(redis_url: str) -> redis.Redis:
    """Wait for Redis to answer: in compose the workers may start before it."""
    client = redis.Redis.from_url(redis_url)
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    while True:
        try:
            client.ping()
            return client
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


class Worker:
    def __init__(
        self,
        settings: Settings,
        model: BatchClassifier,
        job_queue: JobQueue,
        wait_budget_ms: float,
        progress: Progress,
    ) -> None:
        self._settings = settings
        self._model = model
        self._queue = job_queue
        self._wait_budget_ms = wait_budget_ms
        self._progress = progress
        self._next_reclaim = 0.0

    def serve(self, jobs: list[Job]) -> None:
        images = {job.job_id: job.image for job in jobs if job.image is not None}
        started = time.time()
        done = self._model.classify(images)
        gone = {job.job_id: None for job in jobs if job.image is None}
        sent_at = time.time()
        timings = {
            job.job_id: WorkerTimings(
                queue_wait=max(job.taken_at - job.enqueued_at, 0.0) if job.enqueued_at else 0.0,
                batch_wait=max(started - job.taken_at, 0.0),
                decode=done.decode_s,
                inference=done.inference_s,
                sent_at=sent_at,
            )
            for job in jobs
        }
        self._queue.answer({**done.answers, **gone}, done.forward_batch, timings)

    def next_jobs(self) -> list[Job]:
        now = time.monotonic()
        if now >= self._next_reclaim:
            self._next_reclaim = now + self._settings.heartbeat_ttl_s / 2
            reclaimed, poison = self._queue.reclaim(self._settings.max_batch)
            if poison:
                failure = JobError(
                    status=500, message="this image crashed every worker that read it"
                )
                self._queue.answer(dict.fromkeys(poison, failure), 0)
            if reclaimed:
                log.info("took over %d jobs of a dead worker", len(reclaimed))
                return reclaimed
        return collect_batch(
            self._queue, self._settings.max_batch, self._wait_budget_ms, READ_BLOCK_MS
        )

    def serve_own_pending(self) -> None:
        """Jobs given to this consumer id and never acknowledged: after a restart under the same
        WORKER_ID, or when Redis went away before the answers reached it."""
        while pending := self._queue.own_pending(self._settings.max_batch):
            self.serve(pending)

    def run(self, stop: StopFlag) -> None:
        recovering = True
        while not stop.stopping:
            try:
                if recovering:
                    self.serve_own_pending()
                    recovering = False
                jobs = self.next_jobs()
                if jobs:
                    self.serve(jobs)
            except redis.ConnectionError as error:
                # Unacknowledged jobs stay pending in Redis; serve them once it is back.
                log.warning("redis unavailable (%s); retrying", error)
                recovering = True
                time.sleep(1)
            except redis.ResponseError as error:
                if "NOGROUP" not in str(error):
                    raise
                # Redis restarted without persistence: the stream and its group are new.
                log.warning("the consumer group is gone (redis restarted?); creating it again")
                self._queue.ensure_group()
            self._progress.tick()


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    try:
        settings = load_settings()
        # The user's ONNX file (MODEL_NAME=onnx) is read here: its labels must match its outputs.
        classifier = classifier_for(settings)
    except SettingsError as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    stop = StopFlag()
    stop.install()
    try:
        runtime = create_runtime(classifier, settings)
    except (DeviceUnavailable, SettingsError) as error:
        print(f"worker: {error}", file=sys.stderr)
        return 2
    if classifier.model_file is not None and not classifier.labels_meaningful:
        log.warning(
            "%s has %d outputs and no MODEL_LABELS: it answers %s ... %s",
            classifier.name,
            len(classifier.labels),
            classifier.labels[0],
            classifier.labels[-1],
        )
    elif not classifier.labels_meaningful:
        log.warning(
            "%s runs with seeded random weights: its labels are meaningless", classifier.name
        )
    if classifier.fixed_batch is not None and classifier.fixed_batch != settings.max_batch:
        log.info(
            "the model's batch is fixed at %d: batches of up to MAX_BATCH=%d images run in passes"
            " of %d",
            classifier.fixed_batch,
            settings.max_batch,
            classifier.fixed_batch,
        )
    model = BatchClassifier(classifier, runtime, settings.max_image_pixels)
    warm_up_s = model.warm_up(settings.max_batch)
    if warm_up_s > settings.stall_timeout_s / 2:
        log.warning(
            "a batch of %d took %.1f s, near STALL_TIMEOUT_S (%.0f s): raise it, or this worker"
            " may be taken for stuck under load",
            settings.max_batch,
            warm_up_s,
            settings.stall_timeout_s,
        )
    batching = choose(runtime, model.blank(1), settings.max_batch, settings.max_wait_ms)
    log.info(
        "per-image ms by batch size %s: batching %s; waiting budget %.1f ms%s",
        {size: round(ms, 2) for size, ms in batching.image_ms_by_batch.items()},
        "pays" if batching.pays else "does not pay",
        batching.wait_budget_ms,
        " (MAX_WAIT_MS)" if batching.explicit else "",
    )
    client = connect(settings.redis_url)
    job_queue = JobQueue(client, settings.worker_id, settings.heartbeat_ttl_s)
    job_queue.ensure_group()
    info = WorkerInfo(
        worker_id=settings.worker_id,
        model=classifier.name,
        runtime=settings.runtime,
        device=settings.device,
        labels_meaningful=classifier.labels_meaningful,
        max_batch=settings.max_batch,
        wait_budget_ms=batching.wait_budget_ms,
        batching_pays=batching.pays,
        image_ms_by_batch={str(size): ms for size, ms in batching.image_ms_by_batch.items()},
    )
    progress = Progress()
    heartbeat = Heartbeat(
        client,
        info,
        settings.heartbeat_ttl_s,
        progress,
        settings.stall_timeout_s,
        alive_file=settings.worker_id_file,
    )
    heartbeat.start()
    log.info(
        "worker %s serving %s on %s/%s",
        settings.worker_id,
        classifier.name,
        settings.runtime,
        settings.device,
    )
    try:
        Worker(settings, model, job_queue, batching.wait_budget_ms, progress).run(stop)
    finally:
        heartbeat.stop()
        try:
            heartbeat.forget()
            job_queue.leave()
        except redis.RedisError as error:
            # Redis went first (the whole stack is stopping): its keys die with it.
            log.warning("could not tidy up in redis: %s", error)
    log.info("worker %s stopped", settings.worker_id)
    return 0


if __name__ == "__main__":
    sys.exit(main())
