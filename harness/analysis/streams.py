"""Generative runs (a `stream` block in the record: harness/generation.py): the figures the page
and a comparison read from them, and what limits a scale, told from how TTFT and ITL move with
the load: TTFT growing while ITL stays flat means requests wait before their prefill (a queue);
ITL growing means each decode step is shared (batched) among more streams."""

from collections import defaultdict
from collections.abc import Callable

from harness.analysis.formatting import format_ms, plural
from harness.generation import GenerationFigures
from harness.generation_files import read_windows
from harness.record.names import number_label
from harness.results import Run

# name -> unit, whether higher is better, the figure
STREAM_FIGURES: dict[str, tuple[str, bool, Callable[[GenerationFigures], float | None]]] = {
    "TTFT p95": ("ms", False, lambda figures: figures.ttft_ms and figures.ttft_ms.p95),
    "ITL p95": ("ms", False, lambda figures: figures.itl_ms and figures.itl_ms.p95),
    "output tokens/s": ("tokens/s", True, lambda figures: figures.output_tokens_per_s),
}
STREAM_HIGHER_IS_BETTER = {name for name, (_, higher, _) in STREAM_FIGURES.items() if higher}
# Within this, a timing stays flat from the lowest load to the highest.
FLAT_WITHIN = 0.20


def streamed(runs: list[Run]) -> list[Run]:
    """The runs that measured a generative server and count."""
    return [run for run in runs if run.counts and run.record.stream is not None]


def load_of(run: Run) -> float:
    """Where a run sits along its load axis: users (closed loop) or the offered rate (open)."""
    return run.rate if run.kind == "open" else run.users


def load_label(run: Run) -> str:
    if run.kind == "open":
        return f"{number_label(run.rate)} req/s"
    return plural(run.users, "user")


def stream_samples(
    before: list[Run], after: list[Run]
) -> list[tuple[str, str, bool, list[float], list[float], str]]:
    """For a point both sides measured with a stream block, each stream figure's samples as a
    comparison tests them (name, unit, higher is better, baseline's, candidate's, what they are):
    each repetition's when both sides repeated the point, else each window's, read from the
    runs' files."""
    if not before or not after or any(run.record.stream is None for run in [*before, *after]):
        return []
    repeated = len(before) >= 2 and len(after) >= 2
    old, new = _sampled(before, repeated), _sampled(after, repeated)
    samples = "repetitions" if repeated else "windows"
    found = []
    for name, (unit, higher, read) in STREAM_FIGURES.items():
        old_values, new_values = _present(old, read), _present(new, read)
        if old_values and new_values:
            found.append((name, unit, higher, old_values, new_values, samples))
    return found


def _sampled(runs: list[Run], repeated: bool) -> list[GenerationFigures]:
    if repeated:
        return [run.record.stream for run in runs]
    windows = [
        figures
        for run in runs
        for figures in read_windows(run.directory / run.stem, run.record.windows or ())
    ]
    return windows or [run.record.stream for run in runs]


def _present(
    figures: list[GenerationFigures], read: Callable[[GenerationFigures], float | None]
) -> list[float]:
    return [value for value in map(read, figures) if value is not None]


def stream_limit_sentences(runs: list[Run]) -> list[str]:
    """Per target, replica count and kind of load, with two loads or more measured: whether
    requests queue, or decode is shared, from the lowest load to the highest."""
    scales: dict[tuple[str, int, str], list[Run]] = defaultdict(list)
    for run in streamed(runs):
        if run.kind in ("closed", "open"):
            scales[(run.target, run.models, run.kind)].append(run)
    sentences = []
    for (target, models, _), scale_runs in sorted(scales.items()):
        timed = [run for run in scale_runs if _medians(run) is not None]
        if len({load_of(run) for run in timed}) < 2:
            continue
        low, high = min(timed, key=load_of), max(timed, key=load_of)
        sentences.append(
            f"{target}, {plural(models, 'replica')}: {_limit(low, high)} From "
            f"{load_label(low)} to {load_label(high)}, TTFT p50 {_moved(low, high, 0)} and ITL"
            f" p50 {_moved(low, high, 1)}; at {load_label(low)}, TTFT is mostly the prefill of"
            f" {_input_tokens(low)} and the way there and back."
        )
    return sentences


def _limit(low: Run, high: Run) -> str:
    (ttft_low, itl_low), (ttft_high, itl_high) = _medians(low), _medians(high)
    if itl_high > itl_low * (1 + FLAT_WITHIN):
        return "decode is shared (batched) among more streams: each token waits for the others'."
    if ttft_high > ttft_low * (1 + FLAT_WITHIN):
        return (
            "requests queue before their prefill: the first token waits, the tokens after it"
            " come as fast."
        )
    return "neither queueing nor shared decode shows: the load did not reach what limits it."


def _medians(run: Run) -> tuple[float, float] | None:
    stream = run.record.stream
    if stream.ttft_ms is None or stream.itl_ms is None:
        return None
    return stream.ttft_ms.p50, stream.itl_ms.p50


def _moved(low: Run, high: Run, which: int) -> str:
    before, after = _medians(low)[which], _medians(high)[which]
    change = after / before - 1 if before else 0.0
    return f"went from {format_ms(before)} to {format_ms(after)} ms ({change:+.0%})"


def _input_tokens(run: Run) -> str:
    tokens = run.record.stream.input_tokens
    return "its prompt" if tokens is None else f"{tokens.mean:.0f} input tokens on average"
