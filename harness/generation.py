"""A generative run's figures (an OpenAI-compatible server's streamed answers), from what
locust/recorder.py wrote: `S.ttft.hdr`, `S.itl.hdr`, `S.tpot.hdr` and `S.chunk_gap.hdr`,
interval logs in the form of `S.hdr` of its successful requests' time to first token,
inter-token latency, time per output token and every gap between two content chunks
(locust/sse.py defines them), and the token counters of `S.intervals.csv`. Read
over the same seconds as the run's latency, exact to the histograms' precision, percentiles by
nearest rank as harness/latency.py takes them.
"""

from dataclasses import dataclass
from pathlib import Path

from harness.latency import (
    IntervalLog,
    histograms_by_start,
    mean_of,
    merge_encoded,
    nearest_rank_values,
    start_label,
)

PERCENTILES = {"p50": 50.0, "p90": 90.0, "p95": 95.0, "p99": 99.0}
TOKEN_SOURCES = {
    "tokens_from_usage": "usage",
    "tokens_from_tokenizer": "tokenizer",
    "tokens_from_chunks": "chunks",
}


@dataclass(frozen=True)
class Timing:
    """One timing over the requests, in ms."""

    mean: float
    p50: float
    p90: float
    p95: float
    p99: float
    max: float


@dataclass(frozen=True)
class Tokens:
    mean: float  # per request that reported them
    total: int


@dataclass(frozen=True)
class GenerationFigures:
    """The record's `stream` block: the generative requests answered and read in the measured
    window (`streams` of them streamed), their timings (successes only), their tokens (what a
    failed stream received included) and where the output tokens were counted from: "usage"
    (the server's), "tokenizer" (the matrix's, counting the answer's text where the server sent
    no usage), "chunks" (a token a content chunk: fewer than sent where a chunk carries
    several), "mixed" (more than one happened)."""

    requests: int
    streams: int
    ttft_ms: Timing | None
    itl_ms: Timing | None
    tpot_ms: Timing | None
    input_tokens: Tokens | None  # None: no answer reported usage
    output_tokens: Tokens
    output_tokens_per_s: float
    token_source: str
    # Every gap between two content chunks of the successful streams (None in records before
    # schema 7): a stall mid-stream, which ITL's mean over the stream spreads thin.
    chunk_gap_ms: Timing | None = None


def read_generation(
    timing_logs: dict[str, Path], log: IntervalLog, start_s: float, end_s: float
) -> GenerationFigures | None:
    """The figures of the seconds that start in [start_s, end_s) of the window, as
    `IntervalLog.span` takes them, from the run's intervals (`log`) and its timing logs
    ("ttft", "itl", "tpot": their paths); None where no generative request was answered."""
    chosen = log.chosen(start_s, end_s)
    totals = {
        name: sum(one.counters.get(name, 0) for one in chosen)
        for name in ("generations", "streams", "output_tokens", "input_tokens", *TOKEN_SOURCES)
    }
    if not totals["generations"]:
        return None
    timings = {}
    for name, path in timing_logs.items():
        by_start = histograms_by_start(path.read_text().splitlines()) if path.is_file() else {}
        timings[name] = _timing([by_start.get(start_label(one.start_s)) for one in chosen])
    with_usage = totals["tokens_from_usage"]
    sources = [source for counter, source in TOKEN_SOURCES.items() if totals[counter]]
    seconds = sum(one.length_s for one in chosen)
    return GenerationFigures(
        requests=totals["generations"],
        streams=totals["streams"],
        ttft_ms=timings["ttft"],
        itl_ms=timings["itl"],
        tpot_ms=timings["tpot"],
        input_tokens=Tokens(totals["input_tokens"] / with_usage, totals["input_tokens"])
        if with_usage
        else None,
        output_tokens=Tokens(
            totals["output_tokens"] / totals["generations"], totals["output_tokens"]
        ),
        output_tokens_per_s=totals["output_tokens"] / seconds if seconds > 0 else 0.0,
        token_source=sources[0] if len(sources) == 1 else "mixed",
        chunk_gap_ms=timings["chunk_gap"],
    )


def _timing(encoded: list[str | None]) -> Timing | None:
    histogram = merge_encoded(encoded)
    if histogram is None or histogram.get_total_count() == 0:
        return None
    values = nearest_rank_values(histogram, PERCENTILES.values())
    figures = {name: value / 1000 for name, value in zip(PERCENTILES, values, strict=True)}
    return Timing(mean=mean_of(histogram) / 1000, max=histogram.get_max_value() / 1000, **figures)
