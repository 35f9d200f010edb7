"""Chart geometry: ticks, and points and bars placed in proportion to their values."""

import pytest

from harness import charts


@pytest.mark.parametrize(
    ("highest", "smallest_step", "ticks"),
    [
        (958.3, 0, [0, 200, 400, 600, 800, 1000]),
        (500, 0, [0, 100, 200, 300, 400, 500]),
        (0.37, 0, [0, 0.1, 0.2, 0.3, 0.4]),
        (8, 1, [0, 2, 4, 6, 8]),
        (1, 1, [0, 1]),
        (0, 0, [0, 1]),
    ],
)
def test_nice_ticks(highest: float, smallest_step: float, ticks: list[float]):
    assert charts.nice_ticks(highest, smallest_step=smallest_step) == pytest.approx(ticks)


def test_line_chart_places_points_in_proportion():
    chart = charts.line_chart(
        "t", "users", "req/s", [charts.Series("1 replica", [(4, 50.0), (1, 25.0)], 0)]
    )
    [line] = chart.lines
    first, last = line.markers  # sorted by users
    assert chart.y_ticks[-1].label == "50"
    assert last.y == pytest.approx(chart.top)
    assert first.y == pytest.approx((chart.top + chart.bottom) / 2)
    assert last.x == pytest.approx(chart.right)
    assert first.x == pytest.approx(chart.left + (chart.right - chart.left) / 4)
    assert line.path == f"{first.x:.1f},{first.y:.1f} {last.x:.1f},{last.y:.1f}"
    assert "users 4, req/s 50" in last.hint


def test_line_chart_reference_line_widens_the_axis():
    chart = charts.line_chart(
        "t", "users", "p95 ms", [charts.Series("a", [(1, 100.0)], 0)], reference=(500, "SLO")
    )
    assert chart.y_ticks[-1].label == "500"
    assert chart.reference.y == pytest.approx(chart.top)


def test_bar_chart_heights_are_proportional():
    chart = charts.bar_chart(
        "t", "point", "req/s", ["a", "b"], [("cpu", [10.0, 20.0]), ("gpu", [40.0, 5.0])]
    )
    heights = {bar.hint.split(":")[0]: bar.height for bar in chart.bars}
    assert heights["gpu, a"] == pytest.approx(4 * heights["cpu, a"])
    assert heights["cpu, b"] == pytest.approx(4 * heights["gpu, b"])
    assert [entry.label for entry in chart.legend] == ["cpu", "gpu"]
    assert [tick.label for tick in chart.x_ticks] == ["a", "b"]


def test_many_bar_categories_get_slanted_labels_below_a_taller_chart():
    few = charts.bar_chart("t", "point", "req/s", ["a", "b"], [("cpu", [1.0, 2.0])])
    names = [f"point {index}" for index in range(charts.MOST_LEVEL_LABELS + 1)]
    many = charts.bar_chart("t", "point", "req/s", names, [("cpu", [1.0] * len(names))])
    assert not few.slanted_x_labels and many.slanted_x_labels
    assert many.height > few.height and many.bottom == few.bottom
