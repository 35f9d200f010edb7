"""A reports folder of one target measured on two backends, written as the harness writes it:
the local backend's closed-loop sweep, then compose's closed-loop runs at other points and its
open-loop runs, and a capacity file."""

import json
from pathlib import Path

from harness.latency import Latency
from harness.matrix import ClosedLoad, Matrix, OpenLoad
from harness.record import RunRecord, write_record
from harness.record.codec import to_data
from harness.record.names import RunName

BACKENDS = ("local", "compose", "swarm")

# (backend, replicas, load, req/s, p95 ms). Local: a closed-loop sweep. Compose: closed-loop
# runs at other points (a run's name holds no backend, so two backends cannot share a point in
# one folder) and open-loop runs. 1 replica at 16 users is local, 2 replicas at 16 users compose:
# a scaling read across them would pair the two backends.
RUNS = (
    ("local", 1, ClosedLoad(8, 4), 80.0, 18.0),
    ("local", 2, ClosedLoad(8, 4), 134.7, 20.0),
    ("local", 1, ClosedLoad(16, 4), 85.0, 30.0),
    ("compose", 2, ClosedLoad(16, 4), 121.0, 45.0),
    ("compose", 1, ClosedLoad(32, 4), 100.0, 40.0),
    ("compose", 2, ClosedLoad(32, 4), 110.0, 48.0),
    # The first is within 10% of local's 80 req/s at 1 replica, the second of compose's 100:
    # each may be set only beside a closed loop of its own backend, and compose has none near 80.
    ("compose", 1, OpenLoad(80.0), 80.0, 470.0),
    ("compose", 1, OpenLoad(100.0), 100.0, 490.0),
)


def write_point(
    reports: Path,
    matrix: Matrix,
    backend: str,
    models: int,
    load: ClosedLoad | OpenLoad,
    rps: float,
    p95_ms: float,
) -> None:
    """A valid run of 20 s at this throughput and p95, recorded as the harness records it."""
    latency = Latency(
        requests=round(rps * 20),
        failures=0,
        seconds=20.0,
        mean_ms=p95_ms * 0.6,
        p50_ms=p95_ms * 0.5,
        p90_ms=p95_ms * 0.9,
        p95_ms=p95_ms,
        p99_ms=p95_ms * 1.2,
        p999_ms=p95_ms * 1.5,
        max_ms=p95_ms * 2,
    )
    record = RunRecord(
        RunName("cpu", models, load),
        "ok",
        backend=backend,
        matrix=matrix.recorded,
        latency=latency,
        invalid_reasons=(),
    )
    (reports / "cpu").mkdir(parents=True, exist_ok=True)
    write_record(record, reports, reports / "cpu")


def write_capacity_json(path: Path, matrix: Matrix, backend: str | None) -> None:
    """A capacity search complete at 1 replica, written as a file of the harness would be
    (schema 2, before the setup, where `backend` is None)."""
    scale = {
        "capacity_rps": 90.0,
        "complete": True,
        "note": None,
        "seconds": 60.0,
        "estimate": {"rps": 100.0, "source": "the best closed-loop run at this scale"},
        "probes": [
            {
                "rate": 90.0,
                "p95_ms": 45.0,
                "failure_ratio": 0.0,
                "valid": True,
                "within": True,
                "report": "1_rate90.html",
            },
            {
                "rate": 94.0,
                "p95_ms": 60.0,
                "failure_ratio": 0.0,
                "valid": True,
                "within": False,
                "report": "1_rate94.html",
            },
        ],
    }
    settings = {
        "target": "cpu",
        "slo": to_data(matrix.slo),
        "tolerance": matrix.capacity.tolerance,
        "arrival": "poisson",
        "probe_time": matrix.capacity.probe_time,
        "criterion": matrix.capacity.criterion,
        "scales": {"1": scale},
    }
    if backend is None:
        data = {"schema": 2, **settings}
    else:
        setup = {"backend": backend, "stack_env": matrix.recorded["stack"]["env"]}
        data = {"schema": 3, **settings, "setup": setup}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
