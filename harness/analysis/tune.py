"""What a tune says: the configuration to deploy and what it gains over the stack's defaults,
those it cannot tell apart from it, the configurations ranked by the objective, and the Pareto
front (the configurations no other beats on both capacity and its p95, or on capacity and
capacity per core)."""

from harness.analysis.formatting import describe_slo, format_ms, format_rps, plural
from harness.tune.file import OK, Config, TuneFile, score
from harness.tune.holding import read_as_kept, short_kept
from harness.tune.space import said

OBJECTIVES = {
    "capacity": "the most requests/s within the SLO",
    "capacity_per_core": "the most requests/s within the SLO per core",
    "cost": "the lowest cost per million inferences within the SLO",
}


def settings(config: Config) -> str:
    """A configuration as a person reads it: MAX_BATCH=8, MAX_WAIT_MS=2 at 2 replicas."""
    return f"{env_settings(config)} at {plural(config.models, 'replica')}"


def env_settings(config: Config) -> str:
    """Its settings alone: MAX_BATCH=8, MAX_WAIT_MS=2."""
    return said(config.env)


def ranked(tune: TuneFile) -> list[Config]:
    """Every configuration, the best by the objective first: those held for the run_time (or
    with no last look to hold) before those known by short probes only, whose figures read
    high (the tune skipped their look where, read as the looks at their scale kept theirs,
    they could not beat the best held); those without a score last."""
    with_score = [config for config in tune.configs if score(config, tune.objective) is not None]
    without = [config for config in tune.configs if score(config, tune.objective) is None]
    with_score.sort(key=lambda c: (c.held is not False, score(c, tune.objective)), reverse=True)
    return with_score + without


def describe_best(tune: TuneFile, currency: str = "$") -> str:
    """The sentence the page leads with."""
    best = tune.best
    if best is None:
        tried = plural(len(tune.configs), "configuration")
        return f"no configuration of the {tried} tried serves any rate within the SLO"
    said = (
        f"deploy {settings(best)}: {format_rps(best.capacity_rps)} req/s within"
        f" {describe_slo(tune.slo)}"
    )
    if best.cores is not None:
        said += f" on {best.cores:.2f} cores"
    if best.cost_per_million is not None:
        said += f", {_cost(best, currency)}"
    if best.joules_per_inference is not None:
        said += f", {best.joules_per_inference:.2f} J per inference"
    default = tune.default
    if default == best:
        said += "; the stack's own settings are already the best tried"
    elif default is not None and default.status == OK and default.held is False:
        # Short probes read high: against a held answer, their figure would understate the gain.
        said += (
            f"; the stack's own settings ({settings(default)}) were known by short probes only"
            f" ({format_rps(default.capacity_rps)} req/s, which read high), not held: they"
            " could not beat it"
        )
    elif default is not None and default.status == OK and default.capacity_rps:
        gain = best.capacity_rps / default.capacity_rps - 1
        said += (
            f"; {gain:+.0%} capacity against the stack's own settings"
            f" ({settings(default)}: {format_rps(default.capacity_rps)} req/s)"
        )
    elif default is not None:
        said += f"; the stack's own settings ({settings(default)}) were {default.status}"
    return said + "."


def tied_with_best(tune: TuneFile) -> list[Config]:
    """The configurations whose score lies within the search's tolerance of the best's, each as
    compared: each capacity is known to within it, so the tune cannot rank them apart (a second
    tune may pick any of them). One known by short probes only is compared as the looks at its
    scale kept theirs, as the tune read it when it left it unheld. The nearest first."""
    best = tune.best
    top = None if best is None or best.held is False else score(best, tune.objective)
    if top is None:
        return []
    kept = {
        models: short_kept([c for c in tune.configs if c.models == models])
        for models in {c.models for c in tune.configs}
    }
    tied = []
    for config in tune.configs:
        if config == best:  # the file's best is a copy of its configuration
            continue
        compared = (
            read_as_kept(config, kept[config.models], tune.objective)
            if config.held is False
            else config
        )
        value = score(compared, tune.objective)
        if value is not None and abs(top - value) <= tune.tolerance * abs(top):
            tied.append(compared)
    return sorted(tied, key=lambda c: score(c, tune.objective), reverse=True)


def describe_ties(tune: TuneFile, currency: str = "$") -> str | None:
    """The sentence after the pick where others are as good within the tolerance; None: none."""
    tied = tied_with_best(tune)
    if not tied:
        return None
    short = " by its short probes, as the looks at its scale kept theirs"
    listed = "; ".join(
        f"{settings(c)} ({_objective_figure(c, tune, currency)}{short if c.held is False else ''})"
        for c in tied
    )
    return (
        f"Within the search's tolerance ({tune.tolerance:.0%}) of it, so not told apart by this"
        f" tune: {listed}. Any of them will do as well; choose among them by their cores and"
        " memory."
    )


def _objective_figure(config: Config, tune: TuneFile, currency: str) -> str:
    if tune.objective == "cost":
        return _cost(config, currency)
    if tune.objective == "capacity_per_core":
        return f"{format_rps(config.capacity_per_core)} req/s per core"
    return f"{format_rps(config.capacity_rps)} req/s"


def _cost(config: Config, currency: str) -> str:
    return f"{currency}{config.cost_per_million:.2f} per million"


def tune_sentences(tune: TuneFile, currency: str = "$") -> list[str]:
    counts = {
        status: sum(c.status == status for c in tune.configs)
        for status in ("ok", "failed", "ruled out")
    }
    tried = (
        f"{plural(len(tune.configs), 'configuration')} tried ({tune.mode},"
        f" best by {OBJECTIVES[tune.objective]})"
    )
    details = [f"{count} {status}" for status, count in counts.items() if count and status != OK]
    short = sum(c.status == OK and c.held is False for c in tune.configs)
    if short:
        details.append(f"{short} known by short probes only, under the best held")
    ties = describe_ties(tune, currency)
    sentences = [
        f"{tune.target}: {describe_best(tune, currency)}",
        *([ties] if ties else []),
        f"{tried}" + (f"; {', '.join(details)}" if details else "") + ".",
    ]
    for config in tune.configs:
        if config.status != OK and config.reason:
            sentences.append(f"{settings(config)}: {config.status}, {config.reason}.")
    return sentences


def pareto(configs: list[Config], better_second: str, lower_is_better: bool) -> list[Config]:
    """The configurations no other beats on capacity and on the second figure at once, among
    those held for the run_time (a short answer reads high: it would push held ones off)."""

    def second(config: Config) -> float | None:
        value = getattr(config, better_second)
        return None if value is None else (-value if lower_is_better else value)

    scored = [
        c for c in configs if c.status == OK and c.held is not False and second(c) is not None
    ]
    return [
        config
        for config in scored
        if not any(
            other.capacity_rps >= config.capacity_rps
            and second(other) >= second(config)
            and (other.capacity_rps, second(other)) != (config.capacity_rps, second(config))
            for other in scored
        )
    ]


def latency_at(config: Config) -> str:
    return f"p95 {format_ms(config.p95_ms)} ms" if config.p95_ms is not None else "p95 –"
