"""Where a request's time goes, from the stack's /metrics: the `request_stage_seconds`
histograms (one per `stage`), the batch sizes and each replica's jobs, read at the start and the
end of the measured window and subtracted."""

import math
from dataclasses import dataclass

import requests
from prometheus_client.parser import text_string_to_metric_families

STAGE_METRIC = "request_stage_seconds"
BATCH_METRIC = "model_batch_size"
JOBS_METRIC = "model_worker_jobs"
SCRAPE_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class Histogram:
    buckets: tuple[tuple[float, float], ...]  # (upper bound, cumulative count), +Inf last
    total: float
    count: float

    def minus(self, earlier: "Histogram") -> "Histogram":
        before = dict(earlier.buckets)
        return Histogram(
            tuple((bound, count - before.get(bound, 0.0)) for bound, count in self.buckets),
            self.total - earlier.total,
            self.count - earlier.count,
        )

    def quantile(self, q: float) -> float | None:
        """As Prometheus's histogram_quantile: linear within the bucket the rank falls in."""
        if self.count <= 0:
            return None
        rank = q * self.count
        lower_bound, lower_count = 0.0, 0.0
        for bound, cumulative in self.buckets:
            if cumulative >= rank:
                if math.isinf(bound):
                    return lower_bound
                share = (rank - lower_count) / max(cumulative - lower_count, 1e-12)
                return lower_bound + (bound - lower_bound) * share
            lower_bound, lower_count = bound, cumulative
        return lower_bound


@dataclass(frozen=True)
class Snapshot:
    """One reading of /metrics; empty where the stack exposes no such metric."""

    stages: dict[str, Histogram]  # in the order the stack lists them
    batch_sizes: Histogram | None
    jobs: dict[str, float]


@dataclass(frozen=True)
class StageFigures:
    mean_ms: float
    p95_ms: float | None
    count: int


@dataclass(frozen=True)
class Breakdown:
    """The measured window's stages, mean batch size and jobs per replica."""

    stages: dict[str, StageFigures]
    batch_size_mean: float | None
    jobs_per_replica: dict[str, int]

    @property
    def total_mean_ms(self) -> float:
        return sum(figures.mean_ms for figures in self.stages.values())


def scrape(metrics_url: str) -> Snapshot | None:
    """The stack's metrics now; None when it has no /metrics or is not answering."""
    try:
        answer = requests.get(metrics_url, timeout=SCRAPE_TIMEOUT_S)
    except requests.RequestException:
        return None
    if answer.status_code != 200:
        return None
    return parse(answer.text)


def parse(text: str) -> Snapshot:
    stages: dict[str, dict] = {}
    batch: dict | None = None
    jobs: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if family.name == STAGE_METRIC:
                _add(stages.setdefault(sample.labels.get("stage", "?"), _empty()), sample)
            elif family.name == BATCH_METRIC:
                batch = batch if batch is not None else _empty()
                _add(batch, sample)
            elif family.name == JOBS_METRIC and sample.name.endswith("_total"):
                jobs[sample.labels.get("worker", "?")] = sample.value
    return Snapshot(
        stages={stage: _histogram(parts) for stage, parts in stages.items()},
        batch_sizes=_histogram(batch) if batch is not None else None,
        jobs=jobs,
    )


def breakdown(first: Snapshot, last: Snapshot) -> Breakdown | None:
    """What happened between two readings; None when the stack exposes no stages."""
    if not last.stages:
        return None
    stages = {}
    for stage, histogram in last.stages.items():
        delta = histogram.minus(first.stages.get(stage, Histogram((), 0.0, 0.0)))
        if delta.count > 0:
            p95 = delta.quantile(0.95)
            stages[stage] = StageFigures(
                mean_ms=1000 * delta.total / delta.count,
                p95_ms=None if p95 is None else 1000 * p95,
                count=round(delta.count),
            )
    batch_mean = None
    if last.batch_sizes is not None:
        earlier = first.batch_sizes or Histogram((), 0.0, 0.0)
        batches = last.batch_sizes.minus(earlier)
        batch_mean = batches.total / batches.count if batches.count > 0 else None
    jobs = {
        worker: round(count - first.jobs.get(worker, 0.0))
        for worker, count in last.jobs.items()
        if count - first.jobs.get(worker, 0.0) > 0
    }
    return Breakdown(stages, batch_mean, jobs)


def _empty() -> dict:
    return {"buckets": {}, "sum": 0.0, "count": 0.0}


def _add(parts: dict, sample) -> None:
    if sample.name.endswith("_bucket"):
        parts["buckets"][float(sample.labels["le"])] = sample.value
    elif sample.name.endswith("_sum"):
        parts["sum"] = sample.value
    elif sample.name.endswith("_count"):
        parts["count"] = sample.value


def _histogram(parts: dict) -> Histogram:
    return Histogram(tuple(sorted(parts["buckets"].items())), parts["sum"], parts["count"])
