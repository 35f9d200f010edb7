"""Hand-built runs for arithmetic tests, and for GPU runs, which cannot be measured here."""

from pathlib import Path
from typing import Any

from harness.results import RunResult, Stats


def make_stats(
    rps: float,
    p95_ms: float | None = 100.0,
    p90_ms: float | None = 90.0,
    requests: int = 1000,
    failures: int = 0,
) -> Stats:
    return Stats(
        requests=requests,
        failures=failures,
        rps=rps,
        median_ms=50.0,
        average_ms=55.0,
        p50_ms=50.0,
        p90_ms=p90_ms,
        p95_ms=p95_ms,
        p99_ms=150.0,
        max_ms=200.0,
    )


def make_run(
    target: str = "cpu",
    models: int = 1,
    users: int = 1,
    spawn_rate: float = 1.0,
    stats: Stats | None = None,
    status: str = "ok",
    failure_reason: str | None = None,
    **fields: Any,
) -> RunResult:
    values: dict[str, Any] = {
        "target": target,
        "models": models,
        "users": users,
        "spawn_rate": spawn_rate,
        "spawn_rate_label": f"{spawn_rate:g}",
        "stem": f"{models}_{users}_{spawn_rate:g}",
        "directory": Path("/nonexistent") / target,
        "status": status,
        "failure_reason": failure_reason,
        "exit_code": 0 if status == "ok" else 1,
        "stats": stats if stats is not None or status == "failed" else make_stats(rps=10.0),
        "started_at": None,
        "ended_at": None,
        "run_time": "20s",
        "run_time_s": 20,
        "ramp_s": 1,
        "backend": "local",
        "model": "efficientnet-lite0",
        "runtime": "onnxruntime",
        "device": "cpu",
        "machine": None,
        "revision": None,
        "matrix": None,
        "locust_cpu_warning": False,
    }
    values.update(fields)
    return RunResult(**values)
