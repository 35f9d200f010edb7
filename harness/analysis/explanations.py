"""The conclusions about why: for each scale, where a request's time goes at the highest and at
the lowest load, what saturated, and how close the replicas came to their in-process ceiling."""

from collections import defaultdict

from harness.analysis import figures, limits
from harness.analysis.formatting import format_ms, format_percent_whole, format_rps, plural
from harness.results import Run
from services.stages import STAGES

# Our stack's words and roles, for records made before the record carried them (schema 2).
SAID = {stage.name: stage.said for stage in STAGES}
ROLE = {stage.name: stage.role for stage in STAGES}

# What to do about the largest stage, by what kind of time it is (services/stages.py's roles).
ADVICE = {
    "queue": "the replicas are the bottleneck: more replicas or a bigger batch help",
    "batch": "the batch window holds requests back: a shorter wait (MAX_WAIT_MS) helps",
    "model": "the model's own work: a faster runtime or device helps",
    "api": "the front end's share: more API processes help",
    "transfer": "requests and answers wait between the front end and the replicas: look at the"
    " front end's and the queue's CPU",
    limits.CLIENT: "outside the stack's stages: HTTP, the network or the load generator",
}
SATURATION_SAID = {
    "workers": "the replicas ({detail}) at {share} of their cores",
    "process": "{detail} at {share} of a core",
    "locust": "Locust at {share} of its cores: this run measures the load generator",
    "machine": "the whole machine ({detail}) at {share}: the replicas, the front end, the queue"
    " and Locust share too few cores",
    "memory": "{detail}'s memory climbing (peak {share} above its mean)",
}
CLIENT_SAID = "client and HTTP"


def stage_name(run: Run, stage: str) -> str:
    """How a sentence names a stage of this run: as the stack's mapping said, else its name."""
    if stage == limits.CLIENT:
        return CLIENT_SAID
    figures = run.record.stages.stages.get(stage) if run.record.stages else None
    said = figures.said if figures is not None else None
    return said or SAID.get(stage) or stage.replace("_", " ")


def stage_role(run: Run, stage: str) -> str | None:
    if stage == limits.CLIENT:
        return limits.CLIENT
    figures = run.record.stages.stages.get(stage) if run.record.stages else None
    role = figures.role if figures is not None else None
    return role or ROLE.get(stage)


def limit_sentences(runs: list[Run]) -> list[str]:
    """Per scale and setup, along the closed loop's users (else the open loop's rates)."""
    closed: dict[tuple, list[Run]] = defaultdict(list)
    for run in figures.representatives(runs):
        closed[(run.setup, run.target, run.models)].append(run)
    opened: dict[tuple, list[Run]] = defaultdict(list)
    for run in sorted((run for run in runs if run.kind == "open" and run.counts), key=_rate):
        opened[(run.setup, run.target, run.models)].append(run)
    sentences = []
    for scale_key in sorted(set(closed) | set(opened)):
        _, target, models = scale_key
        along = closed.get(scale_key) or opened[scale_key]
        highest, lowest = along[-1], along[0]
        scale = f"{target}, {plural(models, 'replica')}"
        sentences.append(_at_load(scale, highest))
        if lowest is not highest:
            shares = limits.time_shares(lowest)
            if shares is not None:
                sentences.append(_overhead(scale, lowest, shares))
    return sentences


def _rate(run: Run) -> float:
    return run.rate


def _load(run: Run) -> str:
    return plural(run.users, "user") if run.kind == "closed" else f"{format_rps(run.rate)} req/s"


def _at_load(scale: str, run: Run) -> str:
    parts = [f"{scale} at {_load(run)}:"]
    shares = limits.time_shares(run)
    if shares is None:
        parts.append("the stack reports no request stages, so where the time goes is unknown;")
    else:
        top = limits.dominant(shares)
        advice = ADVICE.get(stage_role(run, top.stage) or "", "see the breakdown")
        parts.append(
            f"{format_percent_whole(top.share)} of a request's {format_ms(run.stats.mean_ms)} ms"
            f" is {stage_name(run, top.stage)} ({advice});"
        )
    found = limits.saturations(run)
    if found:
        said = [
            SATURATION_SAID[one.what].format(
                detail=one.detail, share=format_percent_whole(one.share)
            )
            for one in found
        ]
        parts.append("saturated: " + "; ".join(said) + ".")
    elif run.record.resources is not None:
        parts.append("nothing it measured ran at its limit.")
    else:
        parts.append("no resources were sampled.")
    if run.record.stable is False:
        parts.append(f"This run was not stable: {run.record.unstable_reason}.")
    share = limits.ceiling_share(run)
    if share is not None:
        parts.append(
            f"{format_rps(run.stats.rps)} req/s is {format_percent_whole(share.of_replicas)} of"
            f" {plural(run.models, 'worker')} in-process ({format_rps(share.per_worker)} images/s"
            f" each) and {format_percent_whole(share.of_machine)} of what this machine's"
            f" {share.cores} cores allow ({plural(share.workers_the_cores_allow, 'worker')})."
        )
    return " ".join(parts)


def _overhead(scale: str, run: Run, shares: list[limits.Share]) -> str:
    model = [share for share in shares if stage_role(run, share.stage) == "model"]
    model_ms = sum(share.mean_ms for share in model)
    added_ms = run.stats.mean_ms - model_ms
    top = limits.dominant(shares)
    said = (
        f"{scale} at {_load(run)}: {format_percent_whole(top.share)} is"
        f" {stage_name(run, top.stage)}"
    )
    if model:
        said += (
            f"; the model's stages ({', '.join(stage_name(run, share.stage) for share in model)})"
            f" take {format_ms(model_ms)} ms"
            f" of {format_ms(run.stats.mean_ms)} ms"
        )
        # Only one user alone never waits behind another request: then all the rest is the
        # stack's own cost. Under any other load the rest holds queueing too.
        if run.kind == "closed" and run.users == 1:
            said += f": the stack adds {format_ms(added_ms)} ms."
        else:
            said += f", the other {format_ms(added_ms)} ms waiting and the stack's own work."
    return said + ("" if said.endswith(".") else ".")
