"""Why a run got the figures it got: where an average request's time went, what saturated, and
how close the replicas came to their in-process ceiling. Pure functions over one run."""

from dataclasses import dataclass

from harness.record.names import HARNESS, LOCUST, LOCUST_WORKER
from harness.record.parts import LOCUST_SATURATED, MemberUse
from harness.results import Run

CLIENT = "client"  # the client's latency beyond the stack's stages: HTTP, the network, Locust
# Busy enough to be the limit: a process at this share of what it can use.
SATURATED = 0.85
MEMORY_GROWTH = 0.20  # a replica whose memory grew this much during the window


@dataclass(frozen=True)
class Share:
    stage: str  # a stage the stack reports, or CLIENT
    mean_ms: float
    share: float  # of the client's mean latency


@dataclass(frozen=True)
class Saturation:
    what: str  # "workers" (the scaled service), "process" (another), "locust", "machine", "memory"
    share: float  # of what it can use (cores, or growth for memory)
    detail: str  # the member(s) concerned


@dataclass(frozen=True)
class CeilingShare:
    of_replicas: float  # throughput ÷ (replicas × one worker in-process)
    of_machine: float  # throughput ÷ (the workers this machine's cores can run × one worker)
    per_worker: float
    cores: int
    workers_the_cores_allow: int


def time_shares(run: Run) -> list[Share] | None:
    """Where an average request's time went: each stage's mean, then the rest of the client's
    mean latency; None without stage metrics or without a mean."""
    stages = run.record.stages
    if stages is None or not stages.stages or run.stats is None or not run.stats.mean_ms:
        return None
    client_ms = run.stats.mean_ms
    shares = [
        Share(name, figures.mean_ms, figures.mean_ms / client_ms)
        for name, figures in stages.stages.items()
    ]
    rest = max(client_ms - stages.total_mean_ms, 0.0)
    return [*shares, Share(CLIENT, rest, rest / client_ms)]


def dominant(shares: list[Share]) -> Share:
    return max(shares, key=lambda share: share.mean_ms)


def worker_threads(run: Run) -> int:
    """NUM_THREADS of the run's workers, as its matrix set it (the services' default is 1)."""
    env = ((run.record.matrix or {}).get("stack") or {}).get("env") or {}
    value = str(env.get("NUM_THREADS", "1"))
    return int(value) if value.isdigit() and int(value) > 0 else 1


def scaled_service(run: Run) -> str | None:
    """The service the run's stack ran at its scale, as its matrix named it (default model)."""
    stack = (run.record.matrix or {}).get("stack") or {}
    return stack.get("scale_service", "model")


def saturations(run: Run) -> list[Saturation]:
    """What ran at its limit during the measured window, mean over the window: every replica
    of the scaled service at its cores, any other process of the stack at a core, Locust,
    the machine, a replica's memory climbing."""
    resources = run.record.resources
    if resources is None:
        return []
    found = []
    scaled = scaled_service(run)
    workers = resources.of(scaled) if scaled is not None else []
    threads = worker_threads(run)
    busy = [member for member in workers if member.cpu_mean >= SATURATED * 100 * threads]
    if workers and len(busy) == len(workers):
        share = min(member.cpu_mean for member in workers) / (100 * threads)
        found.append(Saturation("workers", share, _labels(workers)))
    # The instrument (Locust, the harness) is judged apart; the Docker engine is the stack's
    # path, and at its limit it is the stack's limit too.
    others = [
        member
        for member in resources.members
        if member.service not in (scaled, LOCUST, LOCUST_WORKER, HARNESS)
    ]
    for member in others:
        if member.cpu_mean >= SATURATED * 100:
            found.append(Saturation("process", member.cpu_mean / 100, member.label))
    locust_busy = resources.locust_busy(run.record.locust_workers or 1)
    if locust_busy is not None and locust_busy >= LOCUST_SATURATED:
        found.append(Saturation("locust", locust_busy, LOCUST))
    machine_share = resources.machine_cpu_mean / (100 * max(resources.cores, 1))
    if machine_share >= SATURATED:
        found.append(Saturation("machine", machine_share, f"{resources.cores} cores"))
    for member in workers:
        growth = _growth(member)
        if growth >= MEMORY_GROWTH:
            found.append(Saturation("memory", growth, member.label))
    return found


def ceiling_share(run: Run) -> CeilingShare | None:
    ceiling, resources = run.record.ceiling, run.record.resources
    if ceiling is None or run.stats is None or ceiling.images_per_s <= 0:
        return None
    machine = run.record.machine
    cores = resources.cores if resources is not None else (machine and machine.cores) or 1
    allowed = max(1, cores // worker_threads(run))
    return CeilingShare(
        of_replicas=run.stats.rps / (run.models * ceiling.images_per_s),
        of_machine=run.stats.rps / (allowed * ceiling.images_per_s),
        per_worker=ceiling.images_per_s,
        cores=cores,
        workers_the_cores_allow=allowed,
    )


def _growth(member: MemberUse) -> float:
    """How much a member's memory grew: its peak over its mean, a rough climb indicator."""
    return member.rss_peak_mib / member.rss_mean_mib - 1 if member.rss_mean_mib > 0 else 0.0


def _labels(members: list[MemberUse]) -> str:
    return ", ".join(member.label for member in members)
