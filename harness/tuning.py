"""A tune: which configuration of the stack to deploy, at which scale. Each configuration (the
matrix's `tune.env` values on top of `stack.env`, at a scale of `num_models_list`) gets its
capacity under the SLO from the capacity search, in a reports folder of its own
(reports/tune/{config}/), and its figures at capacity: p95, the stack's cores and memory from
telemetry, the cost per million inferences where the matrix gives prices, the joules per
inference where a counter exists. A constraint it breaks rules it out; the best by the objective
wins. Everything lands in reports/{target}/tune.json after each configuration, and a tune
interrupted resumes there, on the same stack setup (harness/stack_setup.py): the configurations
whose capacity is known are not measured again.

What the tune knows saves probes: each configuration's search starts from the capacity of the
nearest configuration already measured (fewest steps along the axes, then the nearest replica
count, scaled by replicas), not from a burst and a ramp; and an adaptive tune by capacity stops
a neighbour's search at its first probe clearly outside the SLO below the best's capacity,
ruling it out, since it cannot be the best. And a grid tries each configuration at every scale
of the command in turn, so that a backend that can rescale (swarm) rescales its stack between
them instead of deploying it again. A grid's searches stop before their last look; then the
looks follow, best short answer first, only where they may change the pick
(harness/tune/holding.py).
"""

import math
from dataclasses import replace
from pathlib import Path

from harness.capacity import MEASURED, Estimate, ScaleCapacity
from harness.matrix import Matrix
from harness.probing import look_seconds
from harness.record import RunRecord, read_record
from harness.record.names import (
    HTML_SUFFIX,
    NOT_THE_STACK,
    RECORD_SUFFIX,
    tune_reports,
)
from harness.search import LOOK_AWAITED, search_at_scale
from harness.search_steps import beaten, held, short_answer
from harness.session import Command, at_each_scale
from harness.tune.file import (
    FAILED,
    LIMITS,
    OK,
    RULED_OUT,
    Config,
    TuneFile,
    read_tune,
    score,
    tune_path,
    write_tune,
)
from harness.tune.holding import best_held, short_kept, why_unheld
from harness.tune.space import Point, distance, grid, key, next_point, said, start


def tune_scales(command: Command, scales: list[int], force: bool) -> None:
    """Every configuration the tune tries at these scales, each in its stack session. A grid
    tries each configuration at every scale in turn, its stack rescaled from one to the next
    where the backend can (swarm), not deployed again, each search stopped before its last
    look; then the looks that may change the pick. An adaptive tune climbs at each scale in
    turn, since where it climbs depends on the scale's results."""
    tuning = command.matrix.tune
    path = tune_path(command.reports, command.target)
    found = _tune_file(command, path, scales, force)
    origin = start(tuning.axes, command.matrix.stack.env)
    if tuning.mode == "grid":
        for point in grid(tuning.axes):
            untried = [models for models in scales if not _tried(found, point, models)]
            for models in untried:
                keep_up = models != untried[-1]
                _measure(command, found, path, origin, point, models, force, keep_up, True)
        _hold_contenders(command, found, path, origin)
        return
    for models in scales:
        while True:
            at_scale = [config for config in found.configs if config.models == models]
            scores = {key(config.env): score(config, tuning.objective) for config in at_scale}
            order = [key(config.env) for config in at_scale]
            point = next_point(
                tuning.mode, tuning.axes, origin, scores, order, tuning.max_trials, tuning.patience
            )
            if point is None:
                break
            _measure(command, found, path, origin, point, models, force, keep_up=False)


def _tune_file(command: Command, path: Path, scales: list[int], force: bool) -> TuneFile:
    """What an earlier tune of the same settings found (with `force`, less these scales'), or
    a fresh file."""
    matrix = command.matrix
    fresh = TuneFile(
        command.target,
        matrix.slo,
        matrix.tune.objective,
        matrix.tune.mode,
        _axes(matrix),
        tolerance=matrix.capacity.tolerance,
        setup=command.setup,
    )
    found = read_tune(path)
    if found is None or not found.matches(fresh):
        return fresh
    if force:
        found.configs = [config for config in found.configs if config.models not in scales]
    return found


def _tried(found: TuneFile, point: Point, models: int) -> bool:
    return any(c.models == models and key(c.env) == key(point) for c in found.configs)


def _measure(
    command: Command,
    found: TuneFile,
    path: Path,
    origin: Point,
    point: Point,
    models: int,
    force: bool,
    keep_up: bool,
    until_look: bool = False,
) -> None:
    """One configuration at one scale, into the tune file; with `keep_up`, its stack is left up
    for the same configuration's next scale where the backend can rescale; with `until_look`,
    its search stops before its last look (a grid's first pass)."""
    tuning = command.matrix.tune
    at_scale = [config for config in found.configs if config.models == models]
    print(f"[config {len(found.configs) + 1}] {said(point)} at {models} replica(s)", flush=True)
    seed = nearest_estimate(found.configs, point, models, tuning.axes)
    climbing = tuning.mode == "adaptive" and tuning.objective == "capacity"
    best = max((c.capacity_rps for c in at_scale if score(c, "capacity")), default=None)
    rival = best_held(found.configs, tuning.objective)
    beaten_at = best if climbing else None
    kept = short_kept(at_scale)
    config = _try(
        command, point, models, force, seed, beaten_at, (rival, kept), keep_up, until_look
    )
    found.configs.append(config)
    _settle(found, origin)
    write_tune(path, found)


def _hold_contenders(command: Command, found: TuneFile, path: Path, origin: Point) -> None:
    """A grid's second pass: the configurations whose search awaits its last look, best short
    answer first, each held (its search resumed) where, read as the looks at its scale kept
    theirs, it may beat the best held so far; the others keep their short answer, and why."""
    objective = command.matrix.tune.objective
    while awaiting := [config for config in found.configs if config.reason == LOOK_AWAITED]:
        config = max(awaiting, key=lambda c: score(c, objective) or -math.inf)
        held_so_far = [c for c in found.configs if c.held is not False]
        at_scale = [c for c in found.configs if c.models == config.models]
        best = best_held(held_so_far, objective)
        why = why_unheld(config, best, short_kept(at_scale), command.matrix)
        if why is None:
            print(f"[look] {said(config.env)} at {config.models} replica(s)", flush=True)
            point, no_rival = dict(config.env), (None, None)
            held = _try(command, point, config.models, False, None, None, no_rival, False)
        else:
            held = replace(config, reason=why)
        found.configs[found.configs.index(config)] = held
        _settle(found, origin)
        write_tune(path, found)


def _axes(matrix: Matrix) -> dict[str, list[str]]:
    return {name: list(values) for name, values in matrix.tune.axes.items()}


def nearest_estimate(
    configs: list[Config], point: Point, models: int, axes: dict[str, tuple[str, ...]]
) -> Estimate | None:
    """The capacity of the nearest configuration measured, at `models` replicas (the earliest
    tried among those as near): from another scale, scaled as the nearest configuration
    measured at both scaled, else by replicas."""
    measured = [config for config in configs if config.capacity_rps is not None]
    if not measured:
        return None

    def nearest(among: list[Config]) -> Config:
        return min(
            among,
            key=lambda c: (distance(c.env, point, axes), abs(math.log(c.models / models))),
        )

    near = nearest(measured)
    source = f"{said(near.env)} at {near.models} replica(s), {near.capacity_rps:g} req/s"
    at = {(key(c.env), c.models): c.capacity_rps for c in measured}
    both = [c for c in measured if c.models == near.models and (key(c.env), models) in at]
    if near.models == models or not both:
        return Estimate(near.capacity_rps * models / near.models, f"{MEASURED}: {source}")
    # Replicas share the machine: they rarely scale linearly, and each configuration alike.
    like = nearest(both)
    scaling = at[(key(like.env), models)] / like.capacity_rps
    source += f", scaled {scaling:.2f}× as {said(like.env)} from {near.models} to {models}"
    return Estimate(near.capacity_rps * scaling, f"{MEASURED}: {source}")


def _try(
    command: Command,
    point: Point,
    models: int,
    force: bool,
    seed: Estimate | None,
    beaten_at: float | None,
    rival: tuple[Config | None, float | None],
    keep_up: bool,
    until_look: bool = False,
) -> Config:
    """One configuration's capacity search, in its own reports folder, and its figures; ruled
    out where a probe under `beaten_at`, the best's capacity, was clearly outside the SLO. Its
    answer is held for the run_time (the search's last look) only where its short probes' may
    beat the best held so far (`rival`: it, and the share of their short answer the looks at
    this scale kept): elsewhere the look cannot change the pick."""
    matrix = command.matrix.with_stack_env({**command.matrix.stack.env, **point})
    reports = tune_reports(command.reports, point)
    own = replace(command, matrix=matrix, reports=reports)
    best, kept = rival

    def unheld(scale: ScaleCapacity) -> str | None:
        short = figures(own.matrix, reports, command.target, point, models, scale)
        return why_unheld(short, best, kept, own.matrix)

    [scale] = at_each_scale(
        own,
        [models],
        lambda session: search_at_scale(
            session, force, seed, beaten_at, None if until_look else unheld, until_look
        ),
        keep_up=keep_up,
    )
    if beaten(scale.probes, beaten_at):
        cut = Config(
            dict(point), models, RULED_OUT, probes=len(scale.probes), seconds=scale.seconds
        )
        return replace(cut, reason=f"{scale.note}: it cannot be the best")
    config = figures(own.matrix, reports, command.target, point, models, scale)
    return replace(config, short_rps=short_answer(scale.probes) if config.held else None)


def figures(
    matrix: Matrix, reports: Path, target: str, env: Point, models: int, scale: ScaleCapacity
) -> Config:
    """A configuration's figures at its capacity, from the probe that found it."""
    base = Config(dict(env), models, FAILED, probes=len(scale.probes), seconds=scale.seconds)
    if scale.capacity_rps is None:
        return replace(base, reason=scale.note or "no rate within the SLO")
    probe, look_s = scale.found_by(), look_seconds(matrix)
    stem = probe.report.removesuffix(HTML_SUFFIX)
    record = read_record(reports / target / f"{stem}{RECORD_SUFFIX}")
    used = _used(record)
    latency = record.latency
    config = replace(
        base,
        status=OK,
        reason=scale.note,
        held=None if look_s is None else held(probe, look_s),
        capacity_rps=scale.capacity_rps,
        p95_ms=probe.p95_ms,
        report=str((reports / target / probe.report).relative_to(reports.parent.parent)),
        cost_per_million=matrix.cost.per_million(models, scale.capacity_rps)
        if matrix.cost
        else None,
        joules_per_inference=(
            record.energy_j / latency.requests
            if record.energy_j is not None and latency is not None and latency.requests
            else None
        ),
        **used,
    )
    broken = []
    for name, limit in matrix.tune.constraints.items():
        value = getattr(config, LIMITS[name])
        if value is not None and value > limit:
            broken.append(f"{LIMITS[name]} {value:.4g} > {name} {limit:g}")
    if broken:
        return replace(config, status=RULED_OUT, reason=f"breaks {'; '.join(broken)}")
    return config


def _used(record: RunRecord) -> dict[str, float | None]:
    """The stack's cores, memory and GPU memory during the probe: every process of it (the
    load generator's, the harness's and the Docker engine's excepted)."""
    resources = record.resources
    if resources is None:
        return {"cores": None, "rss_mib": None, "gpu_mib": None}
    stack = [m for m in resources.members if m.service not in NOT_THE_STACK]
    gpu = [m.gpu_mem_peak_mib for m in stack if m.gpu_mem_peak_mib is not None]
    return {
        "cores": sum(member.cpu_mean for member in stack) / 100,
        "rss_mib": sum(member.rss_peak_mib for member in stack),
        "gpu_mib": sum(gpu) if gpu else None,
    }


def _settle(tune: TuneFile, origin: Point) -> None:
    """The best configuration by the objective, and the stack's own settings at the best's
    scale (else at any), to say what the tune gained."""
    tune.best = best_held(tune.configs, tune.objective)
    defaults = [config for config in tune.configs if key(config.env) == key(origin)]
    same_scale = [c for c in defaults if tune.best is not None and c.models == tune.best.models]
    tune.default = (same_scale or defaults or [None])[0]
