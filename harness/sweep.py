"""A sweep at one scale: every point of the matrix, `repeats` times, in the scale's stack session.

Points whose complete results exist on the same stack setup are skipped (so an interrupted
sweep resumes; a point measured on another backend is measured again). Repetitions
are interleaved (every point once, then every point again): a machine that drifts slowly over
the sweep then shifts every point alike, instead of the last ones. Progress counts over the
whole sweep, every scale of the matrix, as `nox -s sweep` runs them one after the other.
"""

import time

from harness.matrix import Matrix, OpenLoad, RunPoint, ShapedLoad
from harness.record import is_complete
from harness.record.names import HTML_SUFFIX, RunName, number_label
from harness.run.locust import expected_seconds
from harness.session import ScaleSession

# Per-run time beyond ramp + run time (warm-up, Locust start-up, reports) until one is measured.
ASSUMED_OVERHEAD_S = 8.0


def format_duration(seconds: float) -> str:
    minutes, secs = divmod(max(0, round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


def progress_line(index: int, total: int, name: RunName, seconds_left: float) -> str:
    load = name.load
    if isinstance(load, OpenLoad):
        shape = f"rate={number_label(load.rate)}/s ({load.arrival})"
    elif isinstance(load, ShapedLoad):
        shape = f"shape={load.shape}"
    else:
        shape = f"users={load.users} spawn={number_label(load.spawn_rate)}"
    repeat = f" repeat={name.repeat}" if name.repeat > 1 else ""
    return (
        f"[run {index}/{total}] {name.target} models={name.models} {shape}{repeat}"
        f" — ~{format_duration(seconds_left)} left"
    )


def sweep_plan(matrix: Matrix, target: str, scales: tuple[int, ...]) -> list[tuple[RunPoint, int]]:
    """Every point of the sweep at these scales, in the order they run, each with its
    repetition."""
    return [
        (point, repeat)
        for models in scales
        for repeat in range(1, matrix.repeats + 1)
        for point in matrix.points(target, models)
    ]


def sweep_at_scale(session: ScaleSession, force: bool) -> bool:
    """Run every point at the session's scale; True when every run is ok."""
    matrix, target, models = session.matrix, session.command.target, session.models
    reports = session.command.reports
    # Counted over the matrix's scales, which `nox -s sweep` runs one after the other.
    scales = matrix.models_list if models in matrix.models_list else (models,)
    plan = sweep_plan(matrix, target, scales)
    names = [RunName.of(point, repeat) for point, repeat in plan]
    here = [(point, repeat) for point, repeat in plan if point.models == models]
    pending = [
        (point, repeat)
        for point, repeat in here
        if force or not is_complete(reports, RunName.of(point, repeat), session.command.setup)
    ]
    if len(here) > len(pending):
        print(f"{len(here) - len(pending)} of {len(here)} runs already complete, skipped")
    later = [point for point, _ in plan if point.models in scales[scales.index(models) + 1 :]]
    overheads: list[float] = []
    all_ok = True
    for position, (point, repeat) in enumerate(pending):
        name = RunName.of(point, repeat)
        overhead = sum(overheads) / len(overheads) if overheads else ASSUMED_OVERHEAD_S
        still = [point for point, _ in pending[position:]] + later
        left = sum(expected_seconds(other) + overhead for other in still)
        print(progress_line(names.index(name) + 1, len(plan), name, left), flush=True)
        began = time.monotonic()
        record = session.run(point, repeat, floor=matrix.generator_floor)
        overheads.append(time.monotonic() - began - expected_seconds(point))
        shown = f"{name.target}/{name.stem}"
        if record.status == "ok":
            print(f"  ok: {reports / shown}{HTML_SUFFIX}", flush=True)
        else:
            all_ok = False
            print(f"  FAILED: {shown}: {record.failure_reason}", flush=True)
        if record.status == "ok" and record.invalid_reasons:
            print(
                f"  INVALID: {'; '.join(record.invalid_reasons)}: these numbers measure the"
                " load generator, not the stack (docs/runs.md, valid runs)",
                flush=True,
            )
    return all_ok
