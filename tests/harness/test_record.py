"""The run record reads back exactly as written, every nested part filled; a value of the wrong
type is an error naming its place; records of older schemas still load."""

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from harness.ceiling import Ceiling
from harness.generation import GenerationFigures, Timing, Tokens
from harness.latency import Latency
from harness.machine import Machine
from harness.matrix import ClosedLoad, OpenLoad
from harness.record import RunRecord, Schedule, read_record, write_record
from harness.record.names import RecordError, RunName
from harness.record.parts import (
    Breakdown,
    Floor,
    GpuUse,
    MemberUse,
    NodeUse,
    ResourceUse,
    StageFigures,
)
from harness.seconds import PhaseChange
from harness.stability import Window

FIXTURES = Path(__file__).parents[1] / "index" / "fixtures" / "reports" / "cpu"


def full_record(name: RunName) -> RunRecord:
    """A record with every field and every nested field set to something else than its
    default, so that a part the writer or the reader drops shows."""
    return RunRecord(
        name=name,
        status="failed",
        failure_reason="model-2 was OOMKilled (exit code 137) during the run",
        exit_code=3,
        run_time="20s",
        run_time_s=20.0,
        ramp_s=1.5,
        backend="compose",
        model="efficientnet-lite0",
        runtime="onnxruntime",
        device="cpu",
        started_at="2026-11-30T10:00:00Z",
        ended_at="2026-11-30T10:00:25Z",
        locust_cpu_warning=True,
        machine=Machine("AMD EPYC", 2, 23.5, "GPU 0: H200"),
        revision="efa6632",
        matrix={"run_time": "20s", "stack": {"env": {"MAX_BATCH": "8"}}},
        files=("2_8_0.5.log", "2_8_0.5.html"),
        locust_workers=2,
        latency=Latency(
            requests=410,
            failures=7,
            seconds=19.5,
            mean_ms=41.5,
            p50_ms=38.2,
            p90_ms=52.0,
            p95_ms=60.1,
            p99_ms=88.8,
            p999_ms=120.4,
            max_ms=131.0,
            lost=3,
            failure_kinds={"HTTP 503": 7, "dropped: max_in_flight requests out": 3},
            good=395,
            exact=False,
        ),
        stream=GenerationFigures(
            requests=410,
            streams=400,
            ttft_ms=Timing(mean=31.5, p50=30.1, p90=40.2, p95=41.7, p99=47.8, max=49.0),
            itl_ms=Timing(mean=5.01, p50=5.0, p90=5.05, p95=5.08, p99=5.12, max=5.2),
            tpot_ms=Timing(mean=5.1, p50=5.02, p90=5.1, p95=5.2, p99=5.3, max=5.4),
            input_tokens=Tokens(mean=20.5, total=8200),
            output_tokens=Tokens(mean=40.9, total=16769),
            output_tokens_per_s=859.9,
            token_source="mixed",
            chunk_gap_ms=Timing(mean=5.0, p50=4.9, p90=5.3, p95=5.6, p99=9.1, max=31.0),
        ),
        stages=Breakdown(
            stages={
                "queue_wait": StageFigures(6.1, 9.5, 400, said="queue wait", role="queue"),
                "inference": StageFigures(19.2, 25.0, 400, said="inference", role="model"),
            },
            batch_size_mean=1.4,
            jobs_per_replica={"model-1": 201, "model-2": 199},
        ),
        stages_missing="http://127.0.0.1:8000/metrics: HTTP 404 at first",
        resources=ResourceUse(
            interval_s=0.5,
            members=(MemberUse("model", "1", 99.0, 78.5, 300.0, 280.0, 512.0, node="node-2"),),
            machine_cpu_peak=199.0,
            machine_cpu_mean=190.5,
            cores=2,
            gpus=(GpuUse("0", 55.0, 80.0, 2048.0),),
            nodes=(NodeUse("node-2", 104.0, 81.5),),
            unaccounted_cpu_mean=7.5,
        ),
        ceiling=Ceiling(74.7, 16, "MODEL_NAME=...", "efficientnet-lite0", "onnxruntime", "cpu"),
        invalid_reasons=("Locust used 95% of its cores",),
        schedule=Schedule(
            scheduled=400, late=2, dropped=3, achieved_rate=20.0, unanswered=1, due=401
        ),
        windows=(Window(0.0, 6.5, 130, 20.0, 40.0, 58.0), Window(6.5, 6.5, 140, 21.5, 41.0, 61.0)),
        unstable_reason="p95 varies 12% across windows",
        measured_s=19.5,
        ended_early="p95 900 ms after 5 s, over 1.5× the SLO's",
        energy_j=5120.5,
        energy_source="RAPL packages",
        phase_changes=(PhaseChange(30.0, 50.0, 200.0, 21.5, 24.0, 151, 22.5, 21.0),),
        floor=Floor(40.0, 2, 1.1, 3.4, 2.0, 4.5, 0.01, 0.03),
        generator_bound=True,
    )


def unset_fields(value: Any, where: str = "record") -> list[str]:
    """Every field, at any depth, left at its default: the full record must have none."""
    found = []
    if dataclasses.is_dataclass(value):
        for field in dataclasses.fields(value):
            part = getattr(value, field.name)
            default = field.default
            if field.default_factory is not dataclasses.MISSING:
                default = field.default_factory()
            if default is not dataclasses.MISSING and part == default:
                found.append(f"{where}.{field.name}")
            found += unset_fields(part, f"{where}.{field.name}")
    elif isinstance(value, tuple | list):
        for index, item in enumerate(value):
            found += unset_fields(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            found += unset_fields(item, f"{where}.{key}")
    return found


@pytest.mark.parametrize(
    "name",
    [
        RunName("cpu", 2, ClosedLoad(8, 0.5), 3),
        RunName("gpu", 1, OpenLoad(40.0, "gamma", 64, 0.5), 2),
    ],
)
def test_a_record_reads_back_as_written_every_part_of_it(tmp_path: Path, name: RunName) -> None:
    written = full_record(name)
    # Every field but the schema, which is the version the record is written at.
    assert unset_fields(written) == ["record.schema"], "the test fills every field of the record"
    (tmp_path / name.target).mkdir()
    path = write_record(written, tmp_path, tmp_path / name.target)
    assert read_record(path) == written


def test_a_value_of_the_wrong_type_is_refused_where_it_is(tmp_path: Path) -> None:
    name = RunName("cpu", 2, ClosedLoad(8, 0.5))
    (tmp_path / "cpu").mkdir()
    path = write_record(full_record(name), tmp_path, tmp_path / "cpu")
    data = json.loads(path.read_text())
    data["stages"]["stages"]["inference"]["mean_ms"] = "fast"
    path.write_text(json.dumps(data))
    with pytest.raises(RecordError, match=r"stages\.stages\.inference\.mean_ms: 'fast' is not"):
        read_record(path)


def test_records_of_every_older_schema_load() -> None:
    for path in sorted(FIXTURES.glob("*.meta.json")):
        record = read_record(path)
        assert record.schema == json.loads(path.read_text())["schema"] < 3
        assert record.name == RunName.parse(path)
