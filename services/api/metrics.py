"""Prometheus metrics: the API's own requests, plus the queue and workers as Redis sees them."""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from services.api.dispatch import QueueStats
from services.queue import WorkerInfo
from services.stages import STAGE_METRIC, STAGE_NAMES

LATENCY_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_SIZE_BUCKETS = (1, 2, 4, 8, 16, 32, 64)
# Buckets fine enough for sub-millisecond stages (services/stages.py lists the stages).
STAGE_BUCKETS_S = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.002,
    0.005,
    0.01,
    0.02,
    0.05,
    0.1,
    0.2,
    0.5,
    1,
    2,
    5,
    10,
    30,
)


class QueueCollector(Collector):
    """Exposes the last snapshot read from Redis; the /metrics handler refreshes it first."""

    def __init__(self) -> None:
        self.stats = QueueStats(depth=0, jobs_by_worker={}, batch_size_counts={})
        self.workers: list[WorkerInfo] = []

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily | HistogramMetricFamily]:
        yield GaugeMetricFamily(
            "queue_depth", "Jobs accepted and not yet answered.", value=self.stats.depth
        )
        yield GaugeMetricFamily(
            "model_workers_live", "Model workers with a fresh heartbeat.", value=len(self.workers)
        )
        jobs = CounterMetricFamily(
            "model_worker_jobs", "Jobs each model worker has answered.", labels=["worker"]
        )
        for worker, count in sorted(self.stats.jobs_by_worker.items()):
            jobs.add_metric([worker], count)
        yield jobs
        budget = GaugeMetricFamily(
            "model_worker_wait_budget_ms",
            "How long each worker may wait for its batch to fill (0: batching does not pay).",
            labels=["worker"],
        )
        image_ms = GaugeMetricFamily(
            "model_worker_image_ms",
            "Each worker's forward pass per image at each batch size, measured at warm-up.",
            labels=["worker", "batch"],
        )
        for worker in sorted(self.workers, key=lambda info: info.worker_id):
            budget.add_metric([worker.worker_id], worker.wait_budget_ms)
            for size, ms in (worker.image_ms_by_batch or {}).items():
                image_ms.add_metric([worker.worker_id, size], ms)
        yield budget
        yield image_ms
        counts = self.stats.batch_size_counts
        cumulative = [
            (str(bound), sum(n for size, n in counts.items() if size <= bound))
            for bound in BATCH_SIZE_BUCKETS
        ]
        cumulative.append(("+Inf", sum(counts.values())))
        yield HistogramMetricFamily(
            "model_batch_size",
            "Images per forward pass.",
            buckets=cumulative,
            sum_value=sum(size * n for size, n in counts.items()),
        )


class Metrics:
    """The API's metrics; with several API processes (services.api.serve) their counts live in
    prometheus_client's multiprocess files, and every process reports all of them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        multiprocess = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        # In multiprocess mode the values go to files; the registry reads them all back.
        own = None if multiprocess else self.registry
        if multiprocess:
            MultiProcessCollector(self.registry)
        self.requests = Counter(
            "api_requests",
            "HTTP requests by route and status.",
            ["route", "status"],
            registry=own,
        )
        self.latency = Histogram(
            "api_request_latency_seconds",
            "Time to answer a classification request.",
            ["route"],
            buckets=LATENCY_BUCKETS_S,
            registry=own,
        )
        self.stages = Histogram(
            STAGE_METRIC,
            "Time each /predict request spent in each stage of the stack.",
            ["stage"],
            buckets=STAGE_BUCKETS_S,
            registry=own,
        )
        for stage in STAGE_NAMES:  # listed in this order from the first scrape on
            self.stages.labels(stage=stage)
        self.queue = QueueCollector()
        self.registry.register(self.queue)

    def observe_stages(self, seconds: dict[str, float]) -> None:
        for stage, value in seconds.items():
            self.stages.labels(stage=stage).observe(value)

    def render(self, stats: QueueStats, workers: list[WorkerInfo]) -> bytes:
        self.queue.stats = stats
        self.queue.workers = workers
        return generate_latest(self.registry)
