"""What the matrix says of the stack under test: how to bring it up, find it ready and read its
metrics. Only what is declared here is read from a stack (it is not trusted beyond that)."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.stages import STAGE_METRIC, STAGES

# Seconds per unit of a stage metric, by the unit the matrix names.
UNITS_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}


@dataclass(frozen=True)
class StageSource:
    """Where the stack exports one stage of a request's time: a histogram or summary family
    (`metric`: its _sum and _count, its buckets for a p95), or a counter of cumulative time
    (`sum`) over the counter of requests it divides by (`count`); only samples carrying every
    label of `labels` count, summed over their other labels."""

    name: str
    said: str  # how sentences name it
    role: str | None  # api, queue, batch, model, transfer (services/stages.py); None: unknown
    metric: str | None = None
    sum: str | None = None
    count: str | None = None
    labels: tuple[tuple[str, str], ...] = ()
    unit_s: float = 1.0


@dataclass(frozen=True)
class SwarmNode:
    """A node of the swarm by its Docker engine: the harness finds and samples the stack's
    containers there through it (on another host, their cgroups are out of reach)."""

    name: str  # as the record and the pages name it
    docker_host: str  # unix://..., tcp://... or ssh://user@host, as DOCKER_HOST takes it


@dataclass(frozen=True)
class SwarmSettings:
    image_registry: str
    locust_master_host: str
    locust_placement: str
    locust_workers: int  # the matrix's, run as a service of the stack
    locustfile: Path  # the matrix's; the workers load it with the harness's own (record/names)
    nodes: tuple[SwarmNode, ...] = ()  # none: the local engine only


@dataclass(frozen=True)
class StackSettings:
    """What a stack backend needs to bring the stack up, find it ready and take it down, and
    what the harness may read from it."""

    host: str
    ready_timeout_s: float
    compose_files: dict[str, tuple[str, ...]]
    scale_service: str | None  # None: the stack scales itself from ${REPLICAS}
    ready_path: str
    ready_replicas_field: str | None  # None: ready when ready_path answers 2xx
    metrics_path: str | None  # a path on host, or a URL; None: the stack exports no metrics
    stages: tuple[StageSource, ...]
    jobs_metric: str | None  # a counter of jobs answered, labelled by replica
    batch_size_metric: str | None  # a histogram of batch sizes
    queue_depth_metric: str | None  # a gauge of requests waiting
    procfile: Path
    env: dict[str, str]
    swarm: SwarmSettings

    @property
    def ready_url(self) -> str:
        return self.host + self.ready_path

    @property
    def metrics_url(self) -> str | None:
        if self.metrics_path is None or "://" in self.metrics_path:
            return self.metrics_path
        return self.host + self.metrics_path


def our_stages() -> dict[str, dict[str, Any]]:
    """The reference stack's mapping, the default: each stage of services/stages.py."""
    return {
        stage.name: {"metric": STAGE_METRIC, "labels": {"stage": stage.name}, "role": stage.role}
        for stage in STAGES
    }


def stage_sources(mapping: dict[str, dict[str, Any]]) -> tuple[StageSource, ...]:
    """The matrix's `stack.stages`, typed, in the order written."""
    said = {stage.name: stage.said for stage in STAGES}
    return tuple(
        StageSource(
            name=name,
            said=source.get("label") or said.get(name) or name.replace("_", " "),
            role=source.get("role"),
            metric=source.get("metric"),
            sum=source.get("sum"),
            count=source.get("count"),
            labels=tuple(sorted((source.get("labels") or {}).items())),
            unit_s=UNITS_S[source.get("unit", "s")],
        )
        for name, source in mapping.items()
    )
