"""A sweep at one scale: bring the stack up once, run every point, bring it down.

Points whose complete results exist are skipped (so an interrupted sweep resumes); a run that
loses a replica is marked failed and the stack is restored before the next point; the stack
comes down on success, error and Ctrl-C alike.
"""

import time
from pathlib import Path

from harness.ceiling import measure_ceiling
from harness.matrix import Matrix, OpenLoad
from harness.pages.index import refresh_index
from harness.record import is_complete
from harness.record.names import RunName, number_label
from harness.run import execute_run
from harness.run.locust import expected_seconds
from harness.stack import bring_down, bring_up, restore
from harness.stack.lifecycle import model_env

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
    else:
        shape = f"users={load.users} spawn={number_label(load.spawn_rate)}"
    repeat = f" repeat={name.repeat}" if name.repeat > 1 else ""
    return (
        f"[run {index}/{total}] {name.target} models={name.models} {shape}{repeat}"
        f" — ~{format_duration(seconds_left)} left"
    )


def sweep_at_scale(
    matrix: Matrix,
    target: str,
    models: int,
    backend: str,
    reports: Path,
    state_dir: Path,
    force: bool,
    keep_up: bool = False,
) -> bool:
    """Run every point at `models` replicas, `repeats` times each; True when every run is ok.

    With `keep_up`, a backend that can rescale (swarm) leaves the stack up for the next scale.

    Repetitions are interleaved (every point once, then every point again): a machine that
    drifts slowly over the sweep then shifts every point alike, instead of the last ones.
    """
    planned = [
        (RunName.of(point, repeat), point)
        for repeat in range(1, matrix.repeats + 1)
        for point in matrix.points(target, models)
    ]
    pending = [(name, point) for name, point in planned if force or not is_complete(reports, name)]
    skipped = len(planned) - len(pending)
    if skipped:
        print(f"{skipped} of {len(planned)} runs already complete, skipped (--force redoes them)")
    if not pending:
        return True
    nominal = {name: expected_seconds(point) for name, point in pending}
    overheads: list[float] = []
    all_ok = True
    # Before the stack starts, so that nothing else competes for the cores.
    ceiling = measure_ceiling(model_env(matrix.stack, target)) if matrix.ceiling else None
    stack, ready = bring_up(matrix.stack, target, models, backend, state_dir)
    finished = False
    try:
        for index, (name, point) in enumerate(pending, start=1):
            overhead = sum(overheads) / len(overheads) if overheads else ASSUMED_OVERHEAD_S
            left = sum(nominal[other] + overhead for other, _ in pending[index - 1 :])
            print(progress_line(index, len(pending), name, left), flush=True)
            if stack.exited():
                ready = restore(stack, matrix.stack, state_dir)
            began = time.monotonic()
            outcome = execute_run(matrix, point, stack, reports, ready, ceiling, name.repeat)
            overheads.append(time.monotonic() - began - nominal[name])
            shown = f"{name.target}/{name.stem}"
            if outcome.status == "ok":
                print(f"  ok: {reports / shown}.html", flush=True)
            else:
                all_ok = False
                print(f"  FAILED: {shown}: {outcome.failure_reason}", flush=True)
            if outcome.status == "ok" and outcome.invalid_reasons:
                print(
                    f"  INVALID: {'; '.join(outcome.invalid_reasons)}: these numbers measure the"
                    " load generator, not the stack (README: valid runs)",
                    flush=True,
                )
            refresh_index(reports, matrix)
        finished = True
    finally:
        bring_down(stack, state_dir, keep=keep_up and finished)
    return all_ok
