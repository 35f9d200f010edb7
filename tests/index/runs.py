"""Hand-built runs for arithmetic tests, and for GPU runs, which cannot be measured here."""

from pathlib import Path
from typing import Any

from harness.latency import Latency
from harness.matrix import ClosedLoad
from harness.record import RunRecord
from harness.record.names import RunName
from harness.results import Run


def make_stats(
    rps: float,
    p95_ms: float | None = 100.0,
    p90_ms: float | None = 90.0,
    requests: int = 1000,
    failures: int = 0,
) -> Latency:
    """A run's figures, its `requests` spread over the seconds that give `rps`."""
    return Latency(
        requests=requests,
        failures=failures,
        seconds=requests / rps,
        mean_ms=55.0,
        p50_ms=50.0,
        p90_ms=p90_ms,
        p95_ms=p95_ms,
        p99_ms=150.0,
        p999_ms=190.0,
        max_ms=200.0,
        exact=True,
    )


def make_run(
    target: str = "cpu",
    models: int = 1,
    users: int = 1,
    spawn_rate: float = 1.0,
    stats: Latency | None = None,
    status: str = "ok",
    failure_reason: str | None = None,
    backend: str = "local",
    **fields: Any,
) -> Run:
    record = RunRecord(
        name=RunName(target, models, ClosedLoad(users, spawn_rate)),
        status=status,
        failure_reason=failure_reason,
        exit_code=0 if status == "ok" else 1,
        run_time="20s",
        run_time_s=20,
        ramp_s=1,
        backend=backend,
        model="efficientnet-lite0",
        runtime="onnxruntime",
        device="cpu",
        **fields,
    )
    if stats is None and status == "ok":
        stats = make_stats(rps=10.0)
    return Run(record=record, stats=stats, directory=Path("/nonexistent") / target)
