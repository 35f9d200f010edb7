"""The statistics on hand-made numbers with known answers."""

import pytest

from harness.analysis.statistics import spread, welch_p_value

# Wikipedia, "Welch's t-test", example 1: t = -2.46, 24.98 degrees of freedom, p = 0.021.
WELCH_A1 = [
    27.5,
    21.0,
    19.0,
    23.6,
    17.0,
    17.9,
    16.9,
    20.1,
    21.9,
    22.6,
    23.1,
    19.6,
    19.0,
    21.7,
    21.4,
]
WELCH_A2 = [
    27.1,
    22.0,
    20.8,
    23.4,
    23.4,
    23.5,
    25.8,
    22.0,
    24.8,
    20.2,
    21.9,
    22.1,
    22.9,
    20.5,
    24.4,
]


def test_a_mean_with_its_95_percent_interval_from_students_t():
    # Mean 12, standard deviation 2, t(0.975, 2 degrees of freedom) = 4.3027.
    found = spread([10.0, 12.0, 14.0])
    assert found.mean == 12.0
    assert found.half_width == pytest.approx(4.3027 * 2 / 3**0.5, rel=1e-4)
    assert (found.low, found.high) == pytest.approx((12 - 4.9683, 12 + 4.9683), rel=1e-4)
    assert found.cv == pytest.approx(2 / 12)
    assert found.count == 3


def test_one_value_has_no_interval():
    found = spread([42.0])
    assert (found.mean, found.low, found.high, found.cv) == (42.0, None, None, None)


def test_welchs_test_gives_the_textbook_p_value():
    assert welch_p_value(WELCH_A1, WELCH_A2) == pytest.approx(0.021, abs=0.0005)
    assert welch_p_value(WELCH_A2, WELCH_A1) == pytest.approx(0.021, abs=0.0005)


def test_welchs_test_needs_two_values_a_side():
    assert welch_p_value([1.0], [2.0, 3.0]) is None


def test_identical_samples_without_spread_do_not_differ():
    assert welch_p_value([5.0, 5.0], [5.0, 5.0]) == 1.0
    assert welch_p_value([5.0, 5.0], [6.0, 6.0]) == 0.0
