"""The conclusions in sentences a person can read without the charts, one function per question,
each over one setup's runs (harness/analysis/conclusions.py gathers them)."""

from collections.abc import Iterable

from harness.analysis import figures
from harness.analysis.formatting import (
    describe_breach,
    describe_load,
    describe_slo,
    format_ms,
    format_percent,
    format_percent_whole,
    format_rps,
    format_spawn,
    plural,
)
from harness.matrix import Slo
from harness.results import Run
from harness.seconds import DRAIN_SCHEMA, PhaseChange, fell_at


def scaling_sentences(runs: list[Run]) -> list[str]:
    found = figures.scalings(runs)
    sentences = []
    for target in _targets(runs):
        measured_models = sorted(
            {run.models for run in figures.closed_counting(runs) if run.target == target}
        )
        if not measured_models:
            continue
        if len(measured_models) == 1:
            sentences.append(
                f"{target}: only {plural(measured_models[0], 'replica')} measured;"
                " scaling needs runs at 1 replica and at least one more count."
            )
            continue
        if measured_models[0] != 1:
            sentences.append(
                f"{target}: no measured run with 1 replica, the baseline scaling is read against."
            )
            continue
        for models in measured_models[1:]:
            points = [point for point in found if (point.target, point.models) == (target, models)]
            if not points:
                sentences.append(
                    f"{target}: no users × spawn-rate point was measured at both 1 and"
                    f" {models} replicas, so their scaling cannot be compared."
                )
                continue
            at_load = figures.at_highest_load(
                points, lambda point: point.users, lambda point: point.spawn_rate
            )
            sentence = (
                f"{target}: {models} replicas serve {at_load.speedup:.2f}× the throughput of 1"
                f" ({format_rps(at_load.rps_n)} vs {format_rps(at_load.rps_one)} req/s)"
                f" at {plural(at_load.users, 'user')},"
                f" spawn rate {format_spawn(at_load.spawn_rate)}/s:"
                f" {format_percent_whole(at_load.efficiency)} of linear scaling."
            )
            if len(points) > 1:
                low = min(point.efficiency for point in points)
                high = max(point.efficiency for point in points)
                sentence += (
                    f" Across the {len(points)} loads measured at both, it ranges from"
                    f" {format_percent_whole(low)} to {format_percent_whole(high)}."
                )
            sentences.append(sentence)
    return sentences


def gpu_cpu_sentences(runs: list[Run]) -> list[str]:
    measured_targets = {run.target for run in runs if run.counts}
    missing = [target for target in ("cpu", "gpu") if target not in measured_targets]
    if missing:
        names = " and ".join(target.upper() for target in missing)
        return [f"No measured {names} runs, so there is no GPU/CPU comparison to draw."]
    pairs = figures.gpu_cpu_pairs(runs)
    if not pairs:
        return [
            "No replicas × users × spawn-rate point was measured on both CPU and GPU,"
            " so there is no GPU/CPU comparison to draw."
        ]
    sentences = []
    for models in sorted({pair.models for pair in pairs}):
        at_load = figures.at_highest_load(
            (pair for pair in pairs if pair.models == models),
            lambda pair: pair.users,
            lambda pair: pair.spawn_rate,
        )
        sentence = (
            f"At {plural(models, 'replica')} and {plural(at_load.users, 'user')}"
            f" (spawn rate {format_spawn(at_load.spawn_rate)}/s), the GPU serves"
            f" {at_load.rps_ratio:.2f}× the CPU's throughput"
            f" ({format_rps(at_load.gpu.rps)} vs {format_rps(at_load.cpu.rps)} req/s)"
        )
        p90_ratio = at_load.p90_ratio
        if p90_ratio is None:
            sentence += "; p90 is missing on one side, so it cannot be compared."
        else:
            change = "lower" if p90_ratio <= 1 else "higher"
            sentence += (
                f", and its p90 is {format_percent_whole(abs(1 - p90_ratio))} {change}"
                f" ({format_ms(at_load.gpu.p90_ms)} vs {format_ms(at_load.cpu.p90_ms)} ms,"
                f" ratio {p90_ratio:.2f})."
            )
        sentences.append(sentence)
    return sentences


def slo_break_sentences(runs: list[Run], slo: Slo) -> list[str]:
    sentences = []
    for found in figures.slo_breaks(runs, slo):
        scale = f"{found.target}, {plural(found.models, 'replica')}"
        if found.first_outside is None:
            sentences.append(
                f"{scale}: within the SLO at every load measured"
                f" (up to {plural(found.highest_users, 'user')})."
            )
            continue
        reason = describe_breach(found.breach)
        if found.last_within is None:
            sentences.append(
                f"{scale}: outside the SLO already at the lowest load measured,"
                f" {plural(found.first_outside.users, 'user')} ({reason})."
            )
        else:
            sentences.append(
                f"{scale}: within the SLO up to {plural(found.last_within.users, 'user')};"
                f" breaks it at {plural(found.first_outside.users, 'user')} ({reason})."
            )
    return sentences


def best_configuration_sentences(runs: list[Run], slo: Slo) -> list[str]:
    sentences = []
    targets = _targets(figures.closed_counting(runs))
    for target in targets:
        target_runs = [run for run in runs if run.target == target]
        best = figures.best_configuration(target_runs, slo)
        measured = len(figures.closed_counting(target_runs))
        if best is None:
            runs_said = (
                "the only measured run breaks"
                if measured == 1
                else f"all {measured} measured runs break"
            )
            sentences.append(
                f"{target}: {runs_said} the SLO ({describe_slo(slo)}),"
                " so there is no configuration to recommend."
            )
        else:
            sentences.append(f"{target}: {_describe_best(best)}")
    if len(targets) > 1:
        best = figures.best_configuration(runs, slo)
        if best is not None:
            sentences.append(f"Over all targets: {best.target}, {_describe_best(best)}")
    return sentences


def failure_sentences(runs: list[Run]) -> list[str]:
    sentences = []
    for group in figures.failure_groups(runs):
        count = f"{group.failed} of {group.total} runs" if group.total > 1 else "the run"
        sentences.append(
            f"With {plural(group.models, 'replica')} on {group.target}, {count} failed: "
            + "; ".join(group.reasons)
        )
    return sentences


def shape_sentences(runs: list[Run]) -> list[str]:
    """Each shaped run's rises of load and their wake: when the backlog a rise left was gone (the
    queue itself: the client's outstanding requests, and the stack's own queue where it exports
    one), then when p95 was back (harness/seconds.py)."""
    sentences = []
    for run in runs:
        if run.kind != "shaped" or not run.measured or not run.record.phase_changes:
            continue
        phases = run.record.name.load.phases
        drain_known = run.record.schema >= DRAIN_SCHEMA
        wakes = []
        for change in run.record.phase_changes:
            drain = _drain(change, fell_at(phases, change.at_s)) if drain_known else None
            wake = f"{drain}; {_back(change)}" if drain else _back(change)
            wakes.append(
                f"from {format_rps(change.before)} to {format_rps(change.after)} at"
                f" {change.at_s:.0f} s, {wake}"
            )
        sentences.append(
            f"{run.target}, {plural(run.models, 'replica')}, {describe_load(run.record.name.load)}:"
            f" {'; '.join(wakes)}."
        )
    return sentences


def _drain(change: PhaseChange, fell_s: float | None) -> str | None:
    """When a rise's backlog was gone, after it began and after the load came down; None: a
    closed loop, whose users wait for their answers (no arrivals outstanding)."""
    if change.peak_outstanding is None:
        return None
    queue = (
        f" ({change.queue_drained_s:.0f} s by the stack's own queue)"
        if change.queue_drained_s is not None
        else ""
    )
    backlog = f"the backlog of {change.peak_outstanding} requests"
    if change.drain_s is None:
        return f"{backlog} was not gone by the run's end{queue}"
    if change.drain_s == 0:
        return f"no backlog built up ({change.peak_outstanding} requests outstanding at most)"
    if fell_s is None or change.at_s + change.drain_s < fell_s:
        return f"{backlog} was gone {change.drain_s:.0f} s after the rise{queue}"
    ended = change.at_s + change.drain_s - fell_s
    return (
        f"{backlog} was gone {change.drain_s:.0f} s after the spike began,"
        f" {ended:.0f} s after it ended{queue}"
    )


def _back(change: PhaseChange) -> str:
    """When p95 was back: at its level before the rise, or within the SLO where nothing was
    answered before it (harness/seconds.py)."""
    level = (
        "within the SLO's p95"
        if change.p95_before_ms is None
        else f"at its level before ({format_ms(change.p95_before_ms)} ms)"
    )
    if change.back_s is None:
        return f"p95 was not back {level} by the run's end"
    return f"p95 was back {level} after {change.back_s:.0f} s"


def generator_sentences(runs: list[Run]) -> list[str]:
    bound = [run for run in runs if run.measured and run.record.generator_bound]
    if not bound:
        return []
    said = [
        f"{run.target}/{run.stem} (floor p99 {format_ms(run.record.floor.p99_ms)} ms of"
        f" {format_ms(run.stats.p99_ms)} ms)"
        for run in bound
    ]
    return [
        f"{plural(len(bound), 'run')} owe more than a tenth of their p99 to the load generator"
        f" itself, as measured against a null endpoint at the same rate: {'; '.join(said)}."
        ' Their tails are partly Locust\'s: more workers (locust_workers, or "auto") lower it.'
    ]


def unstable_note(run: Run) -> str:
    """Appended to a conclusion drawn from a run whose windows disagree."""
    return (
        " (not a stable run: its figures moved during the window)"
        if run.record.stable is False
        else ""
    )


def unstable_sentences(runs: list[Run]) -> list[str]:
    unstable = [run for run in runs if run.counts and run.record.stable is False]
    if not unstable:
        return []
    said = [f"{run.target}/{run.stem}: {run.record.unstable_reason}" for run in unstable]
    return [
        f"{plural(len(unstable), 'run')} did not reach a steady state (throughput, mean latency"
        " or p95 moved more than 10% between its windows); a conclusion drawn from one says so: "
        + "; ".join(said)
        + ". Longer runs, `extend_until_stable` or `repeats` help."
    ]


def invalid_sentences(runs: list[Run]) -> list[str]:
    """Runs that measured the load generator rather than the stack, and why; left out."""
    invalid = [run for run in runs if run.measured and not run.record.valid]
    if not invalid:
        return []
    said = [f"{run.target}/{run.stem}: {'; '.join(run.why_invalid)}" for run in invalid]
    return [
        f"{plural(len(invalid), 'run')} left out of every conclusion, as invalid: "
        + ". ".join(said)
        + "."
    ]


def _describe_best(run: Run) -> str:
    return (
        f"{plural(run.models, 'replica')} at {plural(run.users, 'user')}"
        f" (spawn rate {format_spawn(run.spawn_rate)}/s):"
        f" {format_rps(run.stats.rps)} req/s with p95 {format_ms(run.stats.p95_ms)} ms"
        f" and {format_percent(run.stats.failure_ratio)} failures{unstable_note(run)}."
    )


def _targets(runs: Iterable[Run]) -> list[str]:
    return sorted({run.target for run in runs})
