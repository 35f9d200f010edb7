"""Two sweeps side by side: for each point both hold, throughput and p95 (a generative point's
TTFT p95, ITL p95 and output tokens/s too), the capacity where the search ran, and each
configuration's capacity where a tune ran, on each side, the change, and a verdict from Welch's
t-test on the repetitions, or on the windows of the runs when a side has only one repetition.

A change is "better" or "worse" only when the test finds it significant (p < 0.05); otherwise
"no significant change". A capacity has one figure per side: it is better or worse when the
change exceeds the search's tolerance, the resolution it was found to.

A point is compared whatever setup (harness/stack_setup.py) each side measured it on, since a
change of backend or of stack settings may be the change under test; where the two differ, the
point says so, beside its figures.
"""

from dataclasses import dataclass
from typing import TypeVar

from harness.analysis.capacity import found_capacities
from harness.analysis.formatting import describe_load
from harness.analysis.repeats import point_of, repeated
from harness.analysis.statistics import SIGNIFICANCE, Spread, spread, welch_p_value
from harness.analysis.streams import STREAM_HIGHER_IS_BETTER, stream_samples
from harness.analysis.tune import env_settings
from harness.capacity import CapacityFile
from harness.record.names import RunName
from harness.results import Run
from harness.stack_setup import StackSetup, setup_names
from harness.tune.file import TuneFile

TargetFile = TypeVar("TargetFile", CapacityFile, TuneFile)

BETTER, WORSE, SAME = "better", "worse", "no significant change"
HIGHER_IS_BETTER = {"throughput", "capacity", *STREAM_HIGHER_IS_BETTER}
UNTESTED = "not tested"  # fewer than two figures a side: older sweeps recorded no windows


@dataclass(frozen=True)
class Metric:
    name: str  # "throughput", "p95", "capacity", or a stream's (harness/analysis/streams.py)
    unit: str
    baseline: Spread
    candidate: Spread
    p_value: float | None
    verdict: str
    samples: str  # what the test compared: "repetitions", "windows", or "" (not tested)

    @property
    def change(self) -> float:
        return self.candidate.mean / self.baseline.mean - 1 if self.baseline.mean else 0.0


@dataclass(frozen=True)
class PointComparison:
    target: str
    models: int
    load: str  # the point's load as a person says it, "capacity", or a tuned configuration
    metrics: list[Metric]
    # The two sides' setups where they differ ("local → compose"): the change may be theirs.
    across: str | None = None

    @property
    def named(self) -> str:
        """The point as a line of text names it: "cpu 2r 8 users, spawn 4/s (local → compose)"."""
        across = f" ({self.across})" if self.across else ""
        return f"{self.target} {self.models}r {self.load}{across}"

    @property
    def verdict(self) -> str:
        verdicts = {metric.verdict for metric in self.metrics}
        return WORSE if WORSE in verdicts else BETTER if BETTER in verdicts else SAME


@dataclass(frozen=True)
class Comparison:
    points: list[PointComparison]
    only_baseline: list[str]  # "cpu/2_8_4": points measured on one side only
    only_candidate: list[str]
    differences: list[str]  # machine, model, runtime, stack settings that differ
    across_machines: bool


def compare(
    baseline: list[Run],
    candidate: list[Run],
    baseline_capacity: list[CapacityFile],
    candidate_capacity: list[CapacityFile],
    baseline_tunes: list[TuneFile] = (),
    candidate_tunes: list[TuneFile] = (),
) -> Comparison:
    before, after = repeated(baseline), repeated(candidate)
    points = []
    # Each point with the same point of the other side, on whichever setup each measured it.
    pairs = [(old, new) for old in before for new in after if old[0] == new[0]]
    for (point, old_setup), (_, new_setup) in sorted(
        pairs, key=lambda pair: (pair[0][0].sort_key(), pair[0][1], pair[1][1])
    ):
        old, new = before[(point, old_setup)].runs, after[(point, new_setup)].runs
        metrics = [
            _metric("throughput", "req/s", True, *_samples(old, new, "rps")),
            _metric("p95", "ms", False, *_samples(old, new, "p95_ms")),
            *(_metric(*figure) for figure in stream_samples(old, new)),
        ]
        load = describe_load(point.load)
        across = _across(old_setup, new_setup)
        points.append(PointComparison(point.target, point.models, load, metrics, across))
    points += _capacity_points(baseline_capacity, candidate_capacity)
    points += _tune_points(baseline_tunes, candidate_tunes)
    named_before = {point_of(run.record.name) for run in baseline}
    named_after = {point_of(run.record.name) for run in candidate}
    differences, across = _differences(baseline, candidate)
    return Comparison(
        points=points,
        only_baseline=_shown(named_before - named_after),
        only_candidate=_shown(named_after - named_before),
        differences=differences,
        across_machines=across,
    )


def regressions(comparison: Comparison, threshold: float) -> list[tuple[PointComparison, Metric]]:
    """Points significantly worse by more than `threshold` (a relative change): the CI gate."""
    found = []
    for point in comparison.points:
        for metric in point.metrics:
            worse_by = -metric.change if metric.name in HIGHER_IS_BETTER else metric.change
            if metric.verdict == WORSE and worse_by > threshold:
                found.append((point, metric))
    return found


def _shown(names: set[RunName]) -> list[str]:
    return [f"{name.target}/{name.stem}" for name in sorted(names, key=RunName.sort_key)]


def _samples(
    before: list[Run], after: list[Run], field: str
) -> tuple[list[float], list[float], str]:
    """Per-repetition figures when both sides repeated; else each run's windows."""
    if len(before) >= 2 and len(after) >= 2:
        return _values(before, field), _values(after, field), "repetitions"
    return _window_values(before, field), _window_values(after, field), "windows"


def _values(runs: list[Run], field: str) -> list[float]:
    return [getattr(run.stats, field) for run in runs if getattr(run.stats, field) is not None]


def _window_values(runs: list[Run], field: str) -> list[float]:
    values = []
    for run in runs:
        for window in run.record.windows or ():
            value = getattr(window, field)
            if value is not None:
                values.append(value)
    return values or _values(runs, field)


def _metric(
    name: str,
    unit: str,
    higher_is_better: bool,
    before: list[float],
    after: list[float],
    samples: str,
) -> Metric:
    p_value = welch_p_value(before, after)
    verdict = UNTESTED if p_value is None else SAME
    if p_value is not None and p_value < SIGNIFICANCE:
        went_up = sum(after) / len(after) > sum(before) / len(before)
        verdict = BETTER if went_up == higher_is_better else WORSE
    return Metric(
        name,
        unit,
        spread(before),
        spread(after),
        p_value,
        verdict,
        samples if p_value is not None else "",
    )


def _across(before: StackSetup, after: StackSetup) -> str | None:
    """How the two sides' setups differ, where they do: "local → compose"."""
    if before == after:
        return None
    names = setup_names([before, after])
    return f"{names[before]} → {names[after]}"


def _same_targets(
    baseline: list[TargetFile], candidate: list[TargetFile]
) -> list[tuple[TargetFile, TargetFile]]:
    """Each file of the baseline with the candidate's of the same target, where there is one."""
    after_by_target = {file.target: file for file in candidate}
    return [
        (before, after_by_target[before.target])
        for before in baseline
        if before.target in after_by_target
    ]


def _capacity_points(
    baseline: list[CapacityFile], candidate: list[CapacityFile]
) -> list[PointComparison]:
    found = []
    for before, after in _same_targets(baseline, candidate):
        old, new = found_capacities(before), found_capacities(after)
        for models in sorted(set(old) & set(new)):
            metric = _capacity_metric(
                old[models], new[models], max(before.tolerance, after.tolerance)
            )
            across = _across(before.setup, after.setup)
            found.append(PointComparison(before.target, models, "capacity", [metric], across))
    return found


def _tune_points(baseline: list[TuneFile], candidate: list[TuneFile]) -> list[PointComparison]:
    """Each configuration both tunes measured, by its capacity; its settings name it."""
    found = []
    for before, after in _same_targets(baseline, candidate):
        new = {
            (env_settings(config), config.models): config.capacity_rps for config in after.configs
        }
        for config in before.configs:
            key = (env_settings(config), config.models)
            if config.capacity_rps is None or new.get(key) is None:
                continue
            tolerance = max(before.tolerance, after.tolerance)
            metric = _capacity_metric(config.capacity_rps, new[key], tolerance)
            found.append(
                PointComparison(
                    before.target,
                    config.models,
                    f"tuned {key[0]}",
                    [metric],
                    _across(before.setup, after.setup),
                )
            )
    return found


def _capacity_metric(old: float, new: float, tolerance: float) -> Metric:
    change = new / old - 1
    verdict = SAME if abs(change) <= tolerance else BETTER if change > 0 else WORSE
    return Metric("capacity", "req/s", spread([old]), spread([new]), None, verdict, "")


def _differences(baseline: list[Run], candidate: list[Run]) -> tuple[list[str], bool]:
    """What the two sweeps were measured on and with, where it differs."""

    def seen(runs: list[Run], read) -> list[str]:
        return sorted({str(read(run)) for run in runs if read(run) is not None})

    aspects = {
        "machine": _machine,
        "model": lambda run: run.record.model,
        "runtime": lambda run: run.record.runtime,
        "device": lambda run: run.record.device,
        "backend": lambda run: run.record.backend,
        "stack settings": lambda run: None if run.setup.stack_env is None else run.setup.settings,
        "revision": lambda run: run.record.revision,
    }
    differences, across = [], False
    for aspect, read in aspects.items():
        before, after = seen(baseline, read), seen(candidate, read)
        if before != after:
            differences.append(f"{aspect}: {', '.join(before) or '?'} → {', '.join(after) or '?'}")
            across = across or aspect == "machine"
    return differences, across


def _machine(run: Run) -> str | None:
    machine = run.record.machine
    return None if machine is None else f"{machine.cpu}, {machine.cores} cores, GPU {machine.gpu}"
