"""What the runs say: scaling per replica count, GPU against CPU, where p95 breaks the SLO, the best
configuration under it, and which runs failed. Pure functions over RunResults.

Locust users are a closed loop (each waits for its answer before sending again), so one user
cannot keep two replicas busy: scaling and the GPU/CPU ratios are read at the highest load
measured on both sides, where the stack, not the user count, is the limit.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.results import RunResult, Stats


@dataclass(frozen=True)
class Slo:
    p95_ms: float
    max_failure_ratio: float

    def describe(self) -> str:
        return (
            f"p95 ≤ {format_ms(self.p95_ms)} ms"
            f" and failures ≤ {format_percent(self.max_failure_ratio)}"
        )

    def breach(self, stats: Stats) -> str | None:
        """Why a run is outside the SLO, or None when it is within."""
        if stats.p95_ms is None or stats.p95_ms > self.p95_ms:
            shown = "unknown" if stats.p95_ms is None else f"{format_ms(stats.p95_ms)} ms"
            return f"p95 {shown} > {format_ms(self.p95_ms)} ms"
        if stats.failure_ratio > self.max_failure_ratio:
            return (
                f"failures {format_percent(stats.failure_ratio)}"
                f" > {format_percent(self.max_failure_ratio)}"
            )
        return None


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
    cpu: Stats
    gpu: Stats

    @property
    def rps_ratio(self) -> float:
        return self.gpu.rps / self.cpu.rps

    @property
    def p90_ratio(self) -> float | None:
        if not self.cpu.p90_ms or self.gpu.p90_ms is None:
            return None
        return self.gpu.p90_ms / self.cpu.p90_ms


@dataclass(frozen=True)
class SloBreak:
    """Along the users axis at one replica count: the last load within the SLO, the first out."""

    target: str
    models: int
    last_within: RunResult | None
    first_outside: RunResult | None
    reason: str | None
    highest_users: int


@dataclass(frozen=True)
class FailureGroup:
    target: str
    models: int
    failed: int
    total: int
    reasons: list[str]


@dataclass(frozen=True)
class Section:
    """Conclusions on one question, as sentences a person can read without the charts."""

    title: str
    sentences: list[str]


def format_ms(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.0f}" if value >= 10 or value == int(value) else f"{value:.1f}"


def format_rps(value: float) -> str:
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def format_percent(ratio: float) -> str:
    percent = ratio * 100
    return f"{percent:.0f}%" if percent == int(percent) else f"{percent:.2f}%"


def format_spawn(spawn_rate: float) -> str:
    return f"{spawn_rate:g}"


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def slo_from(matrix: dict[str, Any] | None, runs: Iterable[RunResult]) -> Slo | None:
    """The SLO of the given matrix, else of the newest run's recorded matrix, else None."""
    candidates = [matrix] if matrix is not None else []
    candidates += [run.matrix for run in sorted(runs, key=_started, reverse=True)]
    for candidate in candidates:
        slo = candidate.get("slo") if isinstance(candidate, dict) else None
        if isinstance(slo, dict) and _is_number(slo.get("p95_ms")):
            max_failure_ratio = slo.get("max_failure_ratio", 0.0)
            if _is_number(max_failure_ratio):
                return Slo(p95_ms=float(slo["p95_ms"]), max_failure_ratio=float(max_failure_ratio))
    return None


def slo_verdict(run: RunResult, slo: Slo | None) -> tuple[str, str]:
    """For the summary table: "within", "outside" or "n/a", and the text to show."""
    if slo is None or not run.measured:
        return "n/a", "–"
    breach = slo.breach(run.stats)
    return ("within", "within") if breach is None else ("outside", breach)


def representatives(runs: Iterable[RunResult]) -> list[RunResult]:
    """One measured run per target, replicas and users: the one with the highest spawn rate.

    Charts and SLO breaks go along the users axis; when a point was run at several spawn rates,
    the highest has the shortest ramp, so its window is the closest to the steady state.
    """
    chosen: dict[tuple[str, int, int], RunResult] = {}
    for run in runs:
        if not run.measured:
            continue
        key = (run.target, run.models, run.users)
        if key not in chosen or run.spawn_rate > chosen[key].spawn_rate:
            chosen[key] = run
    return sorted(chosen.values(), key=lambda run: run.point)


def scalings(runs: Iterable[RunResult]) -> list[Scaling]:
    """Every point measured at 1 replica and at N > 1 replicas, on the same target."""
    measured = {run.point: run for run in runs if run.measured}
    found = []
    for (target, models, users, spawn_rate), run in sorted(measured.items()):
        baseline = measured.get((target, 1, users, spawn_rate))
        if models == 1 or baseline is None or baseline.stats.rps <= 0:
            continue
        found.append(
            Scaling(
                target=target,
                models=models,
                users=users,
                spawn_rate=spawn_rate,
                rps_one=baseline.stats.rps,
                rps_n=run.stats.rps,
            )
        )
    return found


def gpu_cpu_pairs(runs: Iterable[RunResult]) -> list[GpuCpu]:
    measured = {run.point: run for run in runs if run.measured}
    pairs = []
    for (target, models, users, spawn_rate), cpu_run in sorted(measured.items()):
        gpu_run = measured.get(("gpu", models, users, spawn_rate))
        if target != "cpu" or gpu_run is None or cpu_run.stats.rps <= 0:
            continue
        pairs.append(
            GpuCpu(
                models=models,
                users=users,
                spawn_rate=spawn_rate,
                cpu=cpu_run.stats,
                gpu=gpu_run.stats,
            )
        )
    return pairs


def slo_breaks(runs: Iterable[RunResult], slo: Slo) -> list[SloBreak]:
    by_scale: dict[tuple[str, int], list[RunResult]] = defaultdict(list)
    for run in representatives(runs):
        by_scale[(run.target, run.models)].append(run)
    breaks = []
    for (target, models), along_users in sorted(by_scale.items()):
        last_within = first_outside = reason = None
        for run in along_users:
            reason = slo.breach(run.stats)
            if reason is not None:
                first_outside = run
                break
            last_within = run
        breaks.append(
            SloBreak(
                target=target,
                models=models,
                last_within=last_within,
                first_outside=first_outside,
                reason=reason,
                highest_users=along_users[-1].users,
            )
        )
    return breaks


def best_configuration(runs: Iterable[RunResult], slo: Slo) -> RunResult | None:
    """Highest throughput within the SLO; on a tie (as shown, 0.1 req/s) the fewest replicas."""
    within = [run for run in runs if run.measured and slo.breach(run.stats) is None]
    if not within:
        return None
    return min(within, key=lambda run: (-round(run.stats.rps, 1), run.models, run.users))


def failure_groups(runs: Iterable[RunResult]) -> list[FailureGroup]:
    by_scale: dict[tuple[str, int], list[RunResult]] = defaultdict(list)
    for run in runs:
        by_scale[(run.target, run.models)].append(run)
    groups = []
    for (target, models), scale_runs in sorted(by_scale.items()):
        failed = [run for run in scale_runs if run.status == "failed"]
        if failed:
            reasons = list(
                dict.fromkeys(run.failure_reason or "no reason recorded" for run in failed)
            )
            groups.append(
                FailureGroup(
                    target=target,
                    models=models,
                    failed=len(failed),
                    total=len(scale_runs),
                    reasons=reasons,
                )
            )
    return groups


def conclusions(runs: list[RunResult], slo: Slo | None) -> list[Section]:
    if not any(run.measured for run in runs):
        return [
            Section(
                "Conclusions",
                [
                    "No run has finished with requests answered yet,"
                    " so there is nothing to conclude."
                ],
            )
        ]
    sections = [
        Section("Scaling with replicas", scaling_sentences(runs)),
        Section("GPU against CPU", gpu_cpu_sentences(runs)),
        Section("Where p95 breaks the SLO", slo_break_sentences(runs, slo)),
        Section("Best configuration under the SLO", best_configuration_sentences(runs, slo)),
    ]
    failures = failure_sentences(runs)
    if failures:
        sections.append(Section("Failed runs", failures))
    load_generator = load_generator_sentences(runs)
    if load_generator:
        sections.append(Section("Load generator", load_generator))
    return sections


def scaling_sentences(runs: list[RunResult]) -> list[str]:
    found = scalings(runs)
    sentences = []
    for target in _targets(runs):
        measured_models = sorted(
            {run.models for run in runs if run.measured and run.target == target}
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
            points = [
                found_point
                for found_point in found
                if (found_point.target, found_point.models) == (target, models)
            ]
            if not points:
                sentences.append(
                    f"{target}: no users × spawn-rate point was measured at both 1 and"
                    f" {models} replicas, so their scaling cannot be compared."
                )
                continue
            at_load = max(points, key=lambda point: (point.users, point.spawn_rate))
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


def gpu_cpu_sentences(runs: list[RunResult]) -> list[str]:
    measured_targets = {run.target for run in runs if run.measured}
    missing = [target for target in ("cpu", "gpu") if target not in measured_targets]
    if missing:
        names = " and ".join(target.upper() for target in missing)
        return [f"No measured {names} runs, so there is no GPU/CPU comparison to draw."]
    pairs = gpu_cpu_pairs(runs)
    if not pairs:
        return [
            "No replicas × users × spawn-rate point was measured on both CPU and GPU,"
            " so there is no GPU/CPU comparison to draw."
        ]
    sentences = []
    for models in sorted({pair.models for pair in pairs}):
        at_load = max(
            (pair for pair in pairs if pair.models == models),
            key=lambda pair: (pair.users, pair.spawn_rate),
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


def slo_break_sentences(runs: list[RunResult], slo: Slo | None) -> list[str]:
    if slo is None:
        return [_no_slo()]
    sentences = []
    for found in slo_breaks(runs, slo):
        scale = f"{found.target}, {plural(found.models, 'replica')}"
        if found.first_outside is None:
            sentences.append(
                f"{scale}: within the SLO at every load measured"
                f" (up to {plural(found.highest_users, 'user')})."
            )
        elif found.last_within is None:
            sentences.append(
                f"{scale}: outside the SLO already at the lowest load measured,"
                f" {plural(found.first_outside.users, 'user')} ({found.reason})."
            )
        else:
            sentences.append(
                f"{scale}: within the SLO up to {plural(found.last_within.users, 'user')};"
                f" breaks it at {plural(found.first_outside.users, 'user')} ({found.reason})."
            )
    return sentences


def best_configuration_sentences(runs: list[RunResult], slo: Slo | None) -> list[str]:
    if slo is None:
        return [_no_slo()]
    sentences = []
    targets = _targets(run for run in runs if run.measured)
    for target in targets:
        target_runs = [run for run in runs if run.target == target]
        best = best_configuration(target_runs, slo)
        measured = sum(run.measured for run in target_runs)
        if best is None:
            runs_said = (
                "the only measured run breaks"
                if measured == 1
                else f"all {measured} measured runs break"
            )
            sentences.append(
                f"{target}: {runs_said} the SLO ({slo.describe()}),"
                " so there is no configuration to recommend."
            )
        else:
            sentences.append(f"{target}: {_describe_best(best)}")
    if len(targets) > 1:
        best = best_configuration(runs, slo)
        if best is not None:
            sentences.append(f"Over all targets: {best.target}, {_describe_best(best)}")
    return sentences


def failure_sentences(runs: list[RunResult]) -> list[str]:
    sentences = []
    for group in failure_groups(runs):
        count = f"{group.failed} of {group.total} runs" if group.total > 1 else "the run"
        sentences.append(
            f"With {plural(group.models, 'replica')} on {group.target}, {count} failed: "
            + "; ".join(group.reasons)
        )
    return sentences


def load_generator_sentences(runs: list[RunResult]) -> list[str]:
    warned = [run for run in runs if run.locust_cpu_warning]
    if not warned:
        return []
    names = ", ".join(f"{run.target}/{run.stem}" for run in warned)
    return [
        f"Locust warned that its own CPU was saturated in {plural(len(warned), 'run')} ({names}):"
        " there the load generator, not the stack, may have limited the throughput."
    ]


def format_percent_whole(ratio: float) -> str:
    return f"{ratio * 100:.0f}%"


def _describe_best(run: RunResult) -> str:
    return (
        f"{plural(run.models, 'replica')} at {plural(run.users, 'user')}"
        f" (spawn rate {format_spawn(run.spawn_rate)}/s):"
        f" {format_rps(run.stats.rps)} req/s with p95 {format_ms(run.stats.p95_ms)} ms"
        f" and {format_percent(run.stats.failure_ratio)} failures."
    )


def _no_slo() -> str:
    return "No SLO: neither the matrix nor any run's metadata gives slo.p95_ms."


def _targets(runs: Iterable[RunResult]) -> list[str]:
    return sorted({run.target for run in runs})


def _started(run: RunResult) -> str:
    return run.started_at or ""


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
