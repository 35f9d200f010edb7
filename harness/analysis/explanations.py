"""The conclusions about why: for each scale, where a request's time goes at the highest and at
the lowest load, what saturated, and how close the replicas came to their in-process ceiling."""

from collections import defaultdict

from harness.analysis import figures, limits
from harness.analysis.formatting import format_ms, format_percent_whole, format_rps, plural
from harness.results import Run

STAGE_NAMES = {
    "upload": "receiving the upload",
    "check": "checking the image",
    "enqueue": "enqueueing",
    "queue_wait": "queue wait",
    "batch_wait": "waiting for the batch to fill",
    "decode": "decode and preprocessing",
    "inference": "inference",
    "return": "the answer's way back",
    limits.CLIENT: "client and HTTP",
}
ADVICE = {
    "queue_wait": "the workers are the bottleneck: more replicas or a bigger batch help",
    "batch_wait": "the batch window holds requests back: a shorter MAX_WAIT_MS helps",
    "decode": "the model's own work: a faster runtime or device helps",
    "inference": "the model's own work: a faster runtime or device helps",
    "upload": "the API's share: more API workers help",
    "check": "the API's share: more API workers help",
    "enqueue": "Redis or the API is slow to accept: look at their CPU",
    "return": "answers wait to reach the API: look at the API's CPU",
    limits.CLIENT: "outside the stack's stages: HTTP, the network or the load generator",
}
SATURATION_SAID = {
    "workers": "the workers ({detail}) at {share} of their cores",
    "api": "the API process ({detail}) at {share} of a core",
    "locust": "Locust at {share} of its cores: this run measures the load generator",
    "machine": "the whole machine ({detail}) at {share}: the replicas, the API, Redis and"
    " Locust share too few cores",
    "memory": "{detail}'s memory climbing (peak {share} above its mean)",
}


def stage_name(stage: str) -> str:
    return STAGE_NAMES.get(stage, stage.replace("_", " "))


def limit_sentences(runs: list[Run]) -> list[str]:
    """Per scale, along the closed loop's users (else the open loop's rates)."""
    closed: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in figures.representatives(runs):
        closed[(run.target, run.models)].append(run)
    opened: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in sorted((run for run in runs if run.kind == "open" and run.counts), key=_rate):
        opened[(run.target, run.models)].append(run)
    sentences = []
    for target, models in sorted(set(closed) | set(opened)):
        along = closed.get((target, models)) or opened[(target, models)]
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
        parts.append(
            f"{format_percent_whole(top.share)} of a request's {format_ms(run.stats.mean_ms)} ms"
            f" is {stage_name(top.stage)} ({ADVICE.get(top.stage, 'see the breakdown')});"
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
    model = [share for share in shares if share.stage in ("decode", "inference")]
    model_ms = sum(share.mean_ms for share in model)
    added_ms = run.stats.mean_ms - model_ms
    top = limits.dominant(shares)
    said = f"{scale} at {_load(run)}: {format_percent_whole(top.share)} is {stage_name(top.stage)}"
    if model:
        said += (
            f"; decode and inference take {format_ms(model_ms)} ms"
            f" of {format_ms(run.stats.mean_ms)} ms"
        )
        # Only one user alone never waits behind another request: then all the rest is the
        # stack's own cost. Under any other load the rest holds queueing too.
        if run.kind == "closed" and run.users == 1:
            said += f": the stack adds {format_ms(added_ms)} ms."
        else:
            said += f", the other {format_ms(added_ms)} ms waiting and the stack's own work."
    return said + ("" if said.endswith(".") else ".")
