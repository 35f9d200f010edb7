"""Generative runs written as the harness writes them: the recorder's files (its histogram logs,
with locust/histograms.py's writer, and its intervals table), then the record, its `stream` and
`latency` read back from those files by the harness's own readers and written by its writer.

Each run answers every request with TTFT and ITL fixed by its point, OUTPUT_TOKENS tokens each,
so its figures are known: at 1 replica TTFT grows with the users while ITL stays flat (requests
queue); at 2 replicas ITL grows with the users (decode shared among more streams)."""

import csv
from pathlib import Path

from harness import locust_module
from harness.generation import read_generation
from harness.generation_files import timing_logs
from harness.latency import read_interval_log
from harness.matrix import ClosedLoad, Matrix, OpenLoad
from harness.record import RunRecord, write_record
from harness.record.names import HDR_SUFFIX, INTERVALS_SUFFIX, RunName
from harness.stability import split

histograms = locust_module("histograms")

START = 1_700_000_000.5  # the window opens mid-second, as a real one does
SECONDS = 9
REQUESTS_A_SECOND = 10
OUTPUT_TOKENS = 21
INPUT_TOKENS = 12
E2E_EXTRA_MS = 3.0  # from the last token to the end of the answer
OPEN_IN_FLIGHT = 2  # an open-loop run's streams in flight (a closed loop's: its users)

# (replicas, load, TTFT ms, ITL ms)
POINTS = (
    (1, ClosedLoad(1, 1), 40.0, 10.0),
    (1, ClosedLoad(4, 4), 120.0, 10.5),
    (1, ClosedLoad(8, 4), 260.0, 10.8),
    (2, ClosedLoad(1, 1), 40.0, 10.0),
    (2, ClosedLoad(4, 4), 44.0, 16.0),
    (2, ClosedLoad(8, 4), 48.0, 25.0),
    (1, OpenLoad(2.0), 42.0, 10.0),
    (1, OpenLoad(8.0), 90.0, 10.2),
)


def write_stream_run(
    reports: Path, matrix: Matrix, models: int, load, ttft_ms: float, itl_ms: float
) -> RunName:
    name = RunName("cpu", models, load)
    folder = reports / "cpu"
    folder.mkdir(parents=True, exist_ok=True)
    prefix = folder / name.stem
    series = {key: histograms.SecondHistograms() for key in ("latency", *timing_logs(prefix))}
    e2e_ms = ttft_ms + (OUTPUT_TOKENS - 1) * itl_ms + E2E_EXTRA_MS
    seconds = [int(START) + index for index in range(SECONDS + 1)]
    end = START + SECONDS
    rows = []
    for second in seconds:
        length = min(second + 1, end) - max(second, START)
        answered = max(1, round(REQUESTS_A_SECOND * length))
        for _ in range(answered):
            series["latency"].record(second, e2e_ms)
            series["ttft"].record(second, ttft_ms)
            series["itl"].record(second, itl_ms)
            series["tpot"].record(second, (e2e_ms - ttft_ms) / (OUTPUT_TOKENS - 1))
            for _ in range(OUTPUT_TOKENS - 1):  # a token a chunk
                series["chunk_gap"].record(second, itl_ms)
        rows.append((second, length, answered))
    paths = {"latency": Path(f"{prefix}{HDR_SUFFIX}"), **timing_logs(prefix)}
    for key, path in paths.items():
        series[key].write(str(path), seconds, START, end)
    in_flight = load.users if isinstance(load, ClosedLoad) else OPEN_IN_FLIGHT
    _write_intervals(Path(f"{prefix}{INTERVALS_SUFFIX}"), rows, in_flight)
    log = read_interval_log(Path(f"{prefix}{HDR_SUFFIX}"), Path(f"{prefix}{INTERVALS_SUFFIX}"))
    record = RunRecord(
        name,
        "ok",
        backend="local",
        matrix=matrix.recorded,
        latency=log.whole(),
        stream=read_generation(timing_logs(prefix), log, 0.0, log.window_s),
        invalid_reasons=(),
        windows=tuple(split(log, 3)),
    )
    write_record(record, reports, folder)
    return name


def _write_intervals(path: Path, rows: list[tuple[int, float, int]], in_flight: int) -> None:
    """As the recorder writes it: every request good, answered with usage, `in_flight` streams
    in flight throughout (opened in the first second, then one for each that closed)."""
    counters = ("requests", "failures", "good", "generations", "streams", "output_tokens")
    counters += ("input_tokens", "tokens_from_usage", "streams_opened", "streams_closed")
    with path.open("w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(["start_s", "length_s", *counters])
        for index, (second, length, answered) in enumerate(rows):
            begins = max(second, START) - START
            tokens = (answered * OUTPUT_TOKENS, answered * INPUT_TOKENS, answered)
            opened = answered + (in_flight if index == 0 else 0)
            writer.writerow(
                [f"{begins:.3f}", f"{length:.3f}", answered, 0, answered, answered, answered]
                + [*tokens, opened, answered]
            )


def write_stream_runs(reports: Path, matrix: Matrix) -> list[RunName]:
    return [write_stream_run(reports, matrix, *point) for point in POINTS]
