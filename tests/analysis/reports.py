"""Report folders built by hand with the harness's own record writer: runs whose windows have
known figures, for comparisons whose verdicts are known."""

from pathlib import Path

from harness.latency import Latency
from harness.matrix import ClosedLoad
from harness.record import RunRecord, write_record
from harness.record.names import RunName
from harness.stability import Window


def write_run(
    reports: Path,
    users: int,
    window_rps: list[float],
    window_p95: list[float],
    models: int = 1,
    repeat: int = 1,
    **fields,
) -> None:
    """A valid closed-loop run whose windows have these throughputs and p95s."""
    name = RunName("cpu", models, ClosedLoad(users, 1), repeat)
    windows = tuple(
        Window(index * 5.0, 5.0, round(rps * 5), rps, p95 * 0.8, p95)
        for index, (rps, p95) in enumerate(zip(window_rps, window_p95, strict=True))
    )
    mean_rps = sum(window_rps) / len(window_rps)
    latency = Latency(
        requests=round(mean_rps * 15),
        failures=0,
        seconds=15.0,
        mean_ms=sum(window_p95) / len(window_p95) * 0.8,
        p50_ms=10.0,
        p90_ms=20.0,
        p95_ms=sum(window_p95) / len(window_p95),
        p99_ms=40.0,
        p999_ms=50.0,
        max_ms=60.0,
    )
    (reports / "cpu").mkdir(parents=True, exist_ok=True)
    record = RunRecord(
        name,
        "ok",
        latency=latency,
        windows=windows,
        invalid_reasons=(),
        model="efficientnet-lite0",
        **fields,
    )
    write_record(record, reports, reports / "cpu")
