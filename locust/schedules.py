"""When each request of an open-loop run is due: plain Python, no Locust, so the harness and its
tests compute the very schedule the load generator sends (locust/openloop.py).

A schedule is given as a spec (the harness passes it to Locust as JSON):
  {"arrival": "constant" | "poisson" | "gamma", "burstiness": 1.0,
   "rate": R, "duration_s": T}                        a flat rate over T seconds, or
   "phases": [[rate, ramp_s, hold_s], ...]            a shape: each phase moves linearly to its
                                                      rate over ramp_s, then holds it hold_s, or
  {"trace": "path", "speed": 1.0}                     the arrival times a file records.

The arrival process: `constant` every 1/R seconds; `poisson` a Poisson process of rate R, drawn as
N = R·T arrival times uniform on [0, T) (a Poisson process conditioned on its count, so the
achieved rate is the one asked); `gamma` inter-arrival times from a gamma distribution of shape
`burstiness` (vLLM's and AIPerf's definition: 1 is Poisson, lower is burstier, higher more
regular), scaled so that the N arrivals end where T does. A shape's arrivals are the same process
at rate 1 over the shape's cumulative rate Λ(T) = ∫ rate, each mapped back to the time t where
Λ(t) reaches it (the time-rescaling theorem), so a ramp is a Poisson process whose rate ramps.
Every draw is seeded: a run's schedule is the same each time it runs.

A trace is a CSV file with a header (a column `t`, seconds from the start, and optionally
`image`, a file of the run's image folder) or a JSON Lines file of objects with the same keys;
`speed` 2 replays it twice as fast. For a generative request an arrival may instead carry
`prompt` (its text) or `input_tokens` (a synthetic prompt of that size), and `output_tokens` (its
max_tokens): a TracedPrompt, which locust/payloads.py turns into the request.
"""

import csv
import json
import math
import random
from pathlib import Path
from typing import NamedTuple

SEED = 20261125
SIZES = ("input_tokens", "output_tokens")


class TracedPrompt(NamedTuple):
    """What a trace's arrival asks a generative request to send; None: the request block's."""

    prompt: str | None
    input_tokens: int | None
    output_tokens: int | None


# What an arrival sends: an image of the folder, a traced prompt, or None (the user's choice).
Sent = str | TracedPrompt | None


def arrivals(spec: dict) -> list[tuple[float, Sent]]:
    """Every arrival of the run in order: (seconds from its start, what it sends)."""
    if "trace" in spec:
        return read_trace(Path(spec["trace"]), spec.get("speed", 1.0))
    arrival, burstiness = spec.get("arrival", "poisson"), spec.get("burstiness", 1.0)
    if "phases" in spec:
        phases = [tuple(phase) for phase in spec["phases"]]
        total = cumulative(phases, duration(phases))
        units = process(arrival, burstiness, round(total), total)
        return [(time_of(phases, unit), None) for unit in units]
    rate, seconds = spec["rate"], spec["duration_s"]
    return [(time, None) for time in process(arrival, burstiness, round(rate * seconds), seconds)]


def schedule(rate: float, arrival: str, duration_s: float, burstiness: float = 1.0) -> list[float]:
    """The arrival times of a flat rate."""
    spec = {"arrival": arrival, "burstiness": burstiness, "rate": rate, "duration_s": duration_s}
    return [time for time, _ in arrivals(spec)]


def process(arrival: str, burstiness: float, count: int, seconds: float) -> list[float]:
    """`count` arrivals on [0, seconds) of the process named."""
    if count <= 0:
        return []
    if arrival == "constant":
        return [index * seconds / count for index in range(count)]
    draw = random.Random(SEED)
    if arrival == "poisson":
        return sorted(draw.uniform(0.0, seconds) for _ in range(count))
    if arrival == "gamma":
        gaps = [draw.gammavariate(burstiness, 1.0) for _ in range(count + 1)]
        scale, elapsed, times = seconds / sum(gaps), 0.0, []
        for gap in gaps[:-1]:
            elapsed += gap
            times.append(elapsed * scale)
        return times
    raise ValueError(f"arrival: {arrival!r} is not constant, poisson or gamma")


def duration(phases: list[tuple[float, float, float]]) -> float:
    return sum(ramp + hold for _, ramp, hold in phases)


def rate_at(phases: list[tuple[float, float, float]], time: float) -> float:
    """The shape's rate (or users) `time` seconds in."""
    before, start = phases[0][0], 0.0
    for value, ramp, hold in phases:
        if time < start + ramp:
            return before + (value - before) * (time - start) / ramp
        if time < start + ramp + hold:
            return value
        before, start = value, start + ramp + hold
    return before


def cumulative(phases: list[tuple[float, float, float]], time: float) -> float:
    """Λ(time): the arrivals due by then, ∫ rate."""
    total, before, start = 0.0, phases[0][0], 0.0
    for value, ramp, hold in phases:
        for length, first, last in ((ramp, before, value), (hold, value, value)):
            span = min(length, max(0.0, time - start))
            if length > 0:
                total += span * (first + (last - first) * span / (2 * length))
            start += length
        before = value
    return total


def time_of(phases: list[tuple[float, float, float]], due: float) -> float:
    """Λ⁻¹(due): when the shape's cumulative rate reaches `due`."""
    total, before, start = 0.0, phases[0][0], 0.0
    for value, ramp, hold in phases:
        for length, first, last in ((ramp, before, value), (hold, value, value)):
            area = length * (first + last) / 2
            if length > 0 and total + area >= due:
                return start + _into(due - total, first, (last - first) / length)
            total += area
            start += length
        before = value
    return start


def _into(area: float, rate: float, slope: float) -> float:
    """The time τ at which ∫₀^τ (rate + slope·s) ds = area."""
    if abs(slope) < 1e-12:
        return area / rate if rate > 0 else 0.0
    return (-rate + math.sqrt(max(0.0, rate * rate + 2 * slope * area))) / slope


def read_trace(path: Path, speed: float) -> list[tuple[float, Sent]]:
    """A trace's arrivals, in order, `speed` times as fast; ValueError naming what is wrong."""
    text = path.read_text()
    if path.suffix == ".jsonl":
        rows = [json.loads(line) for line in text.splitlines() if line.strip()]
    else:
        rows = list(csv.DictReader(text.splitlines()))
    found = []
    for number, row in enumerate(rows, start=1):
        try:
            time = float(row["t"]) / speed
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}: arrival {number} has no time `t` in seconds") from None
        found.append((time, _sent(row, f"{path}: arrival {number}")))
    return sorted(found, key=lambda pair: pair[0])


def _sent(row: dict, where: str) -> Sent:
    """The image a trace's row names, or the prompt or sizes it gives (an empty cell gives
    none); ValueError saying `where` what is wrong."""
    image, prompt = row.get("image") or None, row.get("prompt") or None
    sizes = [_tokens(row.get(key), f"{where}: {key}") for key in SIZES]
    if prompt is None and sizes == [None, None]:
        return image
    if image is not None:
        raise ValueError(f"{where} names an image and a prompt or its sizes: one or the other")
    if prompt is not None and sizes[0] is not None:
        raise ValueError(f"{where} gives a prompt and input_tokens: one or the other")
    if prompt is not None and not isinstance(prompt, str):
        raise ValueError(f"{where}: prompt is not text")
    return TracedPrompt(prompt, *sizes)


def _tokens(value, where: str) -> int | None:
    if isinstance(value, str):  # a CSV cell
        value = int(value) if value.strip().isdigit() else value.strip() or None
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise ValueError(f"{where} {value!r} is not a positive integer")
    return value
