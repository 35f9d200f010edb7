"""The figures the conclusions rest on: pure functions over runs, no text.

Locust users are a closed loop (each waits for its answer before sending again), so one user
cannot keep two replicas busy: scaling and the GPU/CPU ratios are read at the highest load
measured on both sides, where the stack, not the user count, is the limit.

Runs are set side by side only on one setup (harness/stack_setup.py), whatever runs are given.
"""

from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TypeVar

from harness.latency import Latency
from harness.matrix import Slo
from harness.results import Run

T = TypeVar("T")


@dataclass(frozen=True)
class Scaling:
    """Throughput at N replicas against N times the throughput at 1, at one users x spawn point."""

    target: str
    models: int
    users: int
    spawn_rate: float
    rps_one: float
    rps_n: float

    @property
    def speedup(self) -> float:
        return self.rps_n / self.rps_one

    @property
    def efficiency(self) -> float:
        """1.0 is linear scaling: N replicas serve N times what one serves."""
        return self.rps_n / (self.models * self.rps_one)


@dataclass(frozen=True)
class GpuCpu:
    """The same replicas x users x spawn point measured on both targets."""

    models: int
    users: int
    spawn_rate: float
    cpu: Latency
    gpu: Latency

    @property
    def rps_ratio(self) -> float:
        return self.gpu.rps / self.cpu.rps

    @property
    def p90_ratio(self) -> float | None:
        if not self.cpu.p90_ms or self.gpu.p90_ms is None:
            return None
        return self.gpu.p90_ms / self.cpu.p90_ms


@dataclass(frozen=True)
class Breach:
    """What puts a run outside the SLO: its p95 (None when unknown) or its failure ratio."""

    measure: str  # "p95" or "failures"
    value: float | None
    limit: float


@dataclass(frozen=True)
class SloBreak:
    """Along the users axis at one replica count: the last load within the SLO, the first out."""

    target: str
    models: int
    last_within: Run | None
    first_outside: Run | None
    breach: Breach | None
    highest_users: int


@dataclass(frozen=True)
class FailureGroup:
    target: str
    models: int
    failed: int
    total: int
    reasons: list[str]


def slo_breach(slo: Slo, stats: Latency) -> Breach | None:
    """What puts a run outside the SLO, or None when it is within."""
    if stats.p95_ms is None or stats.p95_ms > slo.p95_ms:
        return Breach("p95", stats.p95_ms, slo.p95_ms)
    if stats.failure_ratio > slo.max_failure_ratio:
        return Breach("failures", stats.failure_ratio, slo.max_failure_ratio)
    return None


def closed_counting(runs: Iterable[Run]) -> list[Run]:
    """The closed-loop runs that may feed a conclusion: measured and valid."""
    return [run for run in runs if run.kind == "closed" and run.counts]


def one_per_users(
    items: Iterable[T], group: Callable[[T], tuple], spawn_rate: Callable[[T], float]
) -> list[T]:
    """Per group along the users axis, the item measured at the highest spawn rate.

    When a point was run at several spawn rates, the highest has the shortest ramp, so its
    window is the closest to the steady state: it stands for the point on the charts.
    """
    chosen: dict[tuple, T] = {}
    for item in items:
        key = group(item)
        if key not in chosen or spawn_rate(item) > spawn_rate(chosen[key]):
            chosen[key] = item
    return [chosen[key] for key in sorted(chosen)]


def at_highest_load(
    items: Iterable[T], users: Callable[[T], int], spawn: Callable[[T], float]
) -> T:
    """The item measured at the most users (then the highest spawn rate)."""
    return max(items, key=lambda item: (users(item), spawn(item)))


def representatives(runs: Iterable[Run]) -> list[Run]:
    """One measured run per target, replicas and users (see `one_per_users`)."""
    return one_per_users(
        closed_counting(runs),
        group=lambda run: (run.setup, run.target, run.models, run.users),
        spawn_rate=lambda run: run.spawn_rate,
    )


def scalings(runs: Iterable[Run]) -> list[Scaling]:
    """Every point measured at 1 replica and at N > 1 replicas, on the same target and setup."""
    measured = {
        (run.setup, run.target, run.models, run.users, run.spawn_rate): run
        for run in closed_counting(runs)
    }
    found = []
    for (setup, target, models, users, spawn_rate), run in sorted(measured.items()):
        baseline = measured.get((setup, target, 1, users, spawn_rate))
        if models == 1 or baseline is None or baseline.stats.rps <= 0:
            continue
        found.append(Scaling(target, models, users, spawn_rate, baseline.stats.rps, run.stats.rps))
    return found


def gpu_cpu_pairs(runs: Iterable[Run]) -> list[GpuCpu]:
    """Every point measured on both targets, on the same setup."""
    measured = {
        (run.setup, run.target, run.models, run.users, run.spawn_rate): run
        for run in closed_counting(runs)
    }
    pairs = []
    for (setup, target, models, users, spawn_rate), cpu_run in sorted(measured.items()):
        gpu_run = measured.get((setup, "gpu", models, users, spawn_rate))
        if target != "cpu" or gpu_run is None or cpu_run.stats.rps <= 0:
            continue
        pairs.append(GpuCpu(models, users, spawn_rate, cpu_run.stats, gpu_run.stats))
    return pairs


def slo_breaks(runs: Iterable[Run], slo: Slo) -> list[SloBreak]:
    by_scale: dict[tuple, list[Run]] = defaultdict(list)
    for run in representatives(runs):
        by_scale[(run.setup, run.target, run.models)].append(run)
    breaks = []
    for (_, target, models), along_users in sorted(by_scale.items()):
        last_within = first_outside = breach = None
        for run in along_users:
            breach = slo_breach(slo, run.stats)
            if breach is not None:
                first_outside = run
                break
            last_within = run
        breaks.append(
            SloBreak(target, models, last_within, first_outside, breach, along_users[-1].users)
        )
    return breaks


def best_configuration(runs: Iterable[Run], slo: Slo) -> Run | None:
    """Highest throughput within the SLO; on a tie (as shown, 0.1 req/s) the fewest replicas."""
    within = [run for run in closed_counting(runs) if slo_breach(slo, run.stats) is None]
    if not within:
        return None
    return min(within, key=lambda run: (-round(run.stats.rps, 1), run.models, run.users))


def failure_groups(runs: Iterable[Run]) -> list[FailureGroup]:
    by_scale: dict[tuple[str, int], list[Run]] = defaultdict(list)
    for run in runs:
        by_scale[(run.target, run.models)].append(run)
    groups = []
    for (target, models), scale_runs in sorted(by_scale.items()):
        failed = [run for run in scale_runs if run.status == "failed"]
        if failed:
            reasons = list(
                dict.fromkeys(run.record.failure_reason or "no reason recorded" for run in failed)
            )
            groups.append(FailureGroup(target, models, len(failed), len(scale_runs), reasons))
    return groups
