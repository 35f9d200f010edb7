"""Where a request's time goes, from the stack's own metrics: each stage of the matrix's mapping
(`stack.stages`: a histogram or summary, or a counter of cumulative time over a counter of
requests), the batch sizes and each replica's jobs, read at the start and the end of the
measured window and subtracted.

A stack's metrics are not trusted: an answer that is not Prometheus text, or that lacks every
mapped metric, gives no stages and a reason, never an error.
"""

import math
from dataclasses import dataclass

from prometheus_client.parser import text_string_to_metric_families

from harness.matrix import StackSettings, StageSource
from harness.record.parts import Breakdown, StageFigures


class NotMetrics(ValueError):
    """An answer that cannot be read as Prometheus text; the message says why."""


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
        """As Prometheus's histogram_quantile: linear within the bucket the rank falls in; None
        without buckets (a summary, a pair of counters)."""
        if self.count <= 0 or not self.buckets:
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


EMPTY = Histogram((), 0.0, 0.0)


@dataclass(frozen=True)
class Snapshot:
    """One reading of the stack's metrics; empty where it exposes no such metric."""

    stages: dict[str, Histogram]  # in the mapping's order, seconds
    batch_sizes: Histogram | None
    jobs: dict[str, float]
    queue_depth: float | None = None


def parse(text: str, stack: StackSettings) -> Snapshot:
    """The mapped metrics in one answer; NotMetrics when it is not Prometheus text."""
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as error:  # the parser raises several types for text it cannot read
        raise NotMetrics(f"not Prometheus text ({type(error).__name__}: {error})") from None
    samples = [sample for family in families for sample in family.samples]
    stages = {source.name: _stage(source, samples) for source in stack.stages}
    batch = _histogram(stack.batch_size_metric, (), samples) if stack.batch_size_metric else None
    jobs: dict[str, float] = {}
    if stack.jobs_metric:
        for sample in samples:
            if sample.name in (stack.jobs_metric, f"{stack.jobs_metric}_total"):
                replica = sample.labels.get("worker", "?")
                jobs[replica] = jobs.get(replica, 0.0) + sample.value
    depth = None
    if stack.queue_depth_metric:
        values = [sample.value for sample in samples if sample.name == stack.queue_depth_metric]
        depth = sum(values) if values else None
    return Snapshot(
        stages={name: found for name, found in stages.items() if found is not None},
        batch_sizes=batch,
        jobs=jobs,
        queue_depth=depth,
    )


def missing_reason(snapshot: Snapshot, stack: StackSettings) -> str | None:
    """Why a reading gives no stage figures, or None when it gives some."""
    if snapshot.stages or not stack.stages:
        return None if snapshot.stages else "the matrix maps no stage (stack.stages)"
    named = sorted({source.metric or source.sum or "" for source in stack.stages})
    return f"none of the mapped stage metrics ({', '.join(named)}) in its answer"


def breakdown(first: Snapshot, last: Snapshot, stack: StackSettings) -> Breakdown | None:
    """What happened between two readings; None when the stack exposes no stages."""
    if not last.stages:
        return None
    sources = {source.name: source for source in stack.stages}
    stages = {}
    for stage, histogram in last.stages.items():
        delta = histogram.minus(first.stages.get(stage, EMPTY))
        if delta.count > 0:
            p95 = delta.quantile(0.95)
            source = sources.get(stage)
            stages[stage] = StageFigures(
                mean_ms=1000 * delta.total / delta.count,
                p95_ms=None if p95 is None else 1000 * p95,
                count=round(delta.count),
                said=source.said if source else None,
                role=source.role if source else None,
            )
    batch_mean = None
    if last.batch_sizes is not None:
        batches = last.batch_sizes.minus(first.batch_sizes or EMPTY)
        batch_mean = batches.total / batches.count if batches.count > 0 else None
    jobs = {
        worker: round(count - first.jobs.get(worker, 0.0))
        for worker, count in last.jobs.items()
        if count - first.jobs.get(worker, 0.0) > 0
    }
    return Breakdown(stages, batch_mean, jobs)


def _matches(sample, names: tuple[str, ...], labels: tuple[tuple[str, str], ...]) -> bool:
    return sample.name in names and all(sample.labels.get(key) == value for key, value in labels)


def _histogram(metric: str, labels: tuple[tuple[str, str], ...], samples) -> Histogram | None:
    """A histogram or summary family's parts, summed over the samples with `labels`; None when
    the answer has none of it."""
    total = count = 0.0
    buckets: dict[float, float] = {}
    found = False
    for sample in samples:
        if _matches(sample, (f"{metric}_sum",), labels):
            total, found = total + sample.value, True
        elif _matches(sample, (f"{metric}_count",), labels):
            count, found = count + sample.value, True
        elif _matches(sample, (f"{metric}_bucket",), labels) and "le" in sample.labels:
            bound = float(sample.labels["le"])
            buckets[bound] = buckets.get(bound, 0.0) + sample.value
    return Histogram(tuple(sorted(buckets.items())), total, count) if found else None


def _counter(metric: str, labels: tuple[tuple[str, str], ...], samples) -> float | None:
    values = [s.value for s in samples if _matches(s, (metric, f"{metric}_total"), labels)]
    return sum(values) if values else None


def _stage(source: StageSource, samples) -> Histogram | None:
    """One stage as a histogram in seconds (a pair of counters has no buckets)."""
    if source.metric is not None:
        found = _histogram(source.metric, source.labels, samples)
        if found is None:
            return None
        buckets = tuple((bound * source.unit_s, count) for bound, count in found.buckets)
        return Histogram(buckets, found.total * source.unit_s, found.count)
    total = _counter(source.sum or "", source.labels, samples)
    count = _counter(source.count or "", source.labels, samples)
    if total is None or count is None:
        return None
    return Histogram((), total * source.unit_s, count)
