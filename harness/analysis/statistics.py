"""The statistics behind repeats and comparisons, on plain numbers.

Means come with a 95% confidence interval from Student's t (few repetitions, unknown variance);
two samples are compared with Welch's t-test, which does not assume the two sweeps have the
same variance (a noisier machine, another stack) and suits the few, roughly normal figures a
sweep gives per point (repetitions, or the windows of one run).
"""

import math
import statistics
from dataclasses import dataclass

from scipy import stats

CONFIDENCE = 0.95
SIGNIFICANCE = 0.05


@dataclass(frozen=True)
class Spread:
    """A figure over repetitions: its mean, 95% interval (None with one value) and CV."""

    mean: float
    low: float | None
    high: float | None
    cv: float | None  # standard deviation ÷ mean
    count: int

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean


def spread(values: list[float]) -> Spread:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return Spread(mean, None, None, None, len(values))
    deviation = statistics.stdev(values)
    t = stats.t.ppf((1 + CONFIDENCE) / 2, len(values) - 1)
    half = t * deviation / math.sqrt(len(values))
    cv = deviation / mean if mean else None
    return Spread(mean, mean - half, mean + half, cv, len(values))


def welch_p_value(baseline: list[float], candidate: list[float]) -> float | None:
    """Two-sided p-value that the two means differ; None without two values on each side."""
    if len(baseline) < 2 or len(candidate) < 2:
        return None
    if statistics.pvariance(baseline) == 0 and statistics.pvariance(candidate) == 0:
        return 1.0 if statistics.fmean(baseline) == statistics.fmean(candidate) else 0.0
    return float(stats.ttest_ind(baseline, candidate, equal_var=False).pvalue)
