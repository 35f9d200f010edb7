"""Which configurations of a tune hold their answer for the matrix's run_time (the search's last
look, which costs a probe of run_time or more): the best is always one held; another only where
its short probes' answer, read as the looks at its scale kept theirs, may beat the best held so
far (elsewhere the look cannot change the pick)."""

import math
from dataclasses import replace

from harness.matrix import Matrix
from harness.tune.file import Config, score
from harness.tune.space import said


def best_held(configs: list[Config], objective: str) -> Config | None:
    """The best by the objective, an answer held for the run_time before one that was not
    (which the tune skipped only below a held one's score)."""
    ranked = [config for config in configs if score(config, objective) is not None]
    return max(ranked, key=lambda c: (c.held is not False, score(c, objective)), default=None)


def short_kept(at_scale: list[Config]) -> float | None:
    """The most of its short probes' answer a configuration's last look kept at this scale
    (held ÷ short, 1 at most); None before one was held there."""
    kept = [
        min(config.capacity_rps / config.short_rps, 1.0)
        for config in at_scale
        if config.held and config.short_rps and config.capacity_rps
    ]
    return max(kept, default=None)


def why_unheld(
    short: Config, best: Config | None, kept: float | None, matrix: Matrix
) -> str | None:
    """Why a configuration's short answer is not worth its last look: read as the looks at its
    scale kept theirs (`kept`), it scores no more than `best`, the best held so far; None: it
    may beat it, hold it."""
    objective = matrix.tune.objective
    compared = read_as_kept(short, kept, objective)
    read = (
        ""
        if compared is short
        else f", read as the looks at this scale kept theirs ({kept:.2f} of it),"
    )
    if best is None or (score(compared, objective) or -math.inf) > score(best, objective):
        return None
    under = f"{said(best.env)} at {best.models} replica(s)"
    return f"not held for {matrix.run_time}: its short probes{read} put it under {under}"


def read_as_kept(short: Config, kept: float | None, objective: str) -> Config:
    """A short answer as a look would likely have kept it: short probes read high where a look
    sees slow spells they missed, so a look here would keep no more of it than the most any look
    at its scale kept (`kept`): its capacity and cost at that share. As it is where no look kept
    less than all, and by capacity per core, whose cores were measured at the short answer's
    rate."""
    if kept is None or kept >= 1 or objective == "capacity_per_core":
        return short
    capacity = short.capacity_rps * kept if short.capacity_rps is not None else None
    # A million inferences cost the stack's hours they take: at a share of the rate, 1/share.
    cost = short.cost_per_million / kept if short.cost_per_million is not None else None
    return replace(short, capacity_rps=capacity, cost_per_million=cost)
