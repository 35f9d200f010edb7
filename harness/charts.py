"""Chart geometry, computed here and drawn as inline SVG by templates/charts.html.j2.

The page must open from the file system with no network, so there is no chart library: this
module turns numbers into pixel coordinates, ticks and legends, and the template only draws them.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

WIDTH = 660
HEIGHT = 340
MARGIN_LEFT = 64
MARGIN_RIGHT = 150  # the legend sits right of the plot
MARGIN_TOP = 16
MARGIN_BOTTOM = 52
# More categories than this and their labels would overlap: they are slanted, below a taller frame.
MOST_LEVEL_LABELS = 6
SLANTED_LABELS_EXTRA = 40
# Okabe-Ito colours: told apart by colour-blind readers too.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000")


@dataclass(frozen=True)
class Series:
    label: str
    points: list[tuple[float, float]]
    colour_index: int  # into PALETTE, so one replica count keeps its colour across charts
    joined: bool = True  # False: markers alone (a scatter of configurations)
    names: tuple[str, ...] = ()  # each point's name, for its hint (in the order of `points`)


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass(frozen=True)
class Marker:
    x: float
    y: float
    hint: str


@dataclass(frozen=True)
class Line:
    label: str
    colour: str
    path: str  # SVG polyline points: "x,y x,y ..."
    markers: list[Marker]


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    colour: str
    hint: str


@dataclass(frozen=True)
class LegendEntry:
    label: str
    colour: str
    y: float


@dataclass(frozen=True)
class Reference:
    """A horizontal line marking a threshold (the SLO, linear scaling)."""

    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    title: str
    x_label: str
    y_label: str
    width: int
    height: int
    left: float
    top: float
    right: float
    bottom: float
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    lines: list[Line]
    bars: list[Bar]
    legend: list[LegendEntry]
    reference: Reference | None
    slanted_x_labels: bool

    @property
    def legend_x(self) -> float:
        return self.right + 16


def nice_ticks(highest: float, count: int = 5, smallest_step: float = 0.0) -> list[float]:
    """Round tick values from 0 to at least `highest`, stepped by 1, 2 or 5 times a power of ten."""
    if highest <= 0:
        return [0.0, 1.0]
    rough_step = max(highest / count, smallest_step)
    magnitude = 10 ** math.floor(math.log10(rough_step))
    step = next(
        multiple * magnitude for multiple in (1, 2, 5, 10) if multiple * magnitude >= rough_step
    )
    top = math.ceil(highest / step - 1e-9) * step
    return [round(index * step, 10) for index in range(round(top / step) + 1)]


def tick_label(value: float) -> str:
    return f"{value:g}" if abs(value) < 1e6 else f"{value:.2e}"


def line_chart(
    title: str,
    x_label: str,
    y_label: str,
    series: list[Series],
    reference: tuple[float, str] | None = None,
    hint_unit: str = "",
) -> Chart:
    xs = [x for one in series for x, _ in one.points]
    ys = [y for one in series for _, y in one.points]
    if reference is not None:
        ys.append(reference[0])
    # The x axis counts users: no tick between two whole users.
    x_values = nice_ticks(max(xs, default=1.0), smallest_step=1)
    y_values = nice_ticks(max(ys, default=1.0))
    frame = _frame()
    to_x = _scale(x_values[-1], frame["left"], frame["right"])
    to_y = _scale(y_values[-1], frame["bottom"], frame["top"])
    lines = []
    for one in series:
        named = sorted(zip(one.points, one.names or [one.label] * len(one.points), strict=True))
        markers = [
            Marker(
                x=to_x(x),
                y=to_y(y),
                hint=f"{name}: {x_label} {tick_label(x)}, {y_label} {y:.4g}{hint_unit}",
            )
            for (x, y), name in named
        ]
        path = " ".join(f"{marker.x:.1f},{marker.y:.1f}" for marker in markers)
        lines.append(
            Line(
                label=one.label,
                colour=PALETTE[one.colour_index % len(PALETTE)],
                path=path if one.joined else "",
                markers=markers,
            )
        )
    return Chart(
        title=title,
        x_label=x_label,
        y_label=y_label,
        width=WIDTH,
        height=HEIGHT,
        **frame,
        x_ticks=[Tick(to_x(value), tick_label(value)) for value in x_values],
        y_ticks=[Tick(to_y(value), tick_label(value)) for value in y_values],
        lines=lines,
        bars=[],
        legend=_legend([(line.label, line.colour) for line in lines], frame["top"]),
        reference=None if reference is None else Reference(to_y(reference[0]), reference[1]),
        slanted_x_labels=False,
    )


def bar_chart(
    title: str,
    x_label: str,
    y_label: str,
    categories: list[str],
    series: list[tuple[str, list[float]]],
    hint_unit: str = "",
) -> Chart:
    """Grouped bars: one group per category, one bar per series in each group."""
    y_values = nice_ticks(max((value for _, values in series for value in values), default=1.0))
    slanted = len(categories) > MOST_LEVEL_LABELS
    frame = _frame()
    to_y = _scale(y_values[-1], frame["bottom"], frame["top"])
    group_width = (frame["right"] - frame["left"]) / max(len(categories), 1)
    bar_width = group_width * 0.8 / max(len(series), 1)
    bars = []
    for series_index, (label, values) in enumerate(series):
        colour = PALETTE[series_index % len(PALETTE)]
        for category_index, value in enumerate(values):
            x = frame["left"] + group_width * (category_index + 0.1) + bar_width * series_index
            bars.append(
                Bar(
                    x=x,
                    y=to_y(value),
                    width=bar_width,
                    height=frame["bottom"] - to_y(value),
                    colour=colour,
                    hint=f"{label}, {categories[category_index]}: {value:.4g}{hint_unit}",
                )
            )
    category_ticks = [
        Tick(frame["left"] + group_width * (index + 0.5), category)
        for index, category in enumerate(categories)
    ]
    return Chart(
        title=title,
        x_label=x_label,
        y_label=y_label,
        width=WIDTH,
        height=HEIGHT + (SLANTED_LABELS_EXTRA if slanted else 0),
        **frame,
        x_ticks=category_ticks,
        y_ticks=[Tick(to_y(value), tick_label(value)) for value in y_values],
        lines=[],
        bars=bars,
        legend=_legend(
            [(label, PALETTE[index % len(PALETTE)]) for index, (label, _) in enumerate(series)],
            frame["top"],
        ),
        reference=None,
        slanted_x_labels=slanted,
    )


def _frame() -> dict[str, float]:
    return {
        "left": MARGIN_LEFT,
        "top": MARGIN_TOP,
        "right": WIDTH - MARGIN_RIGHT,
        "bottom": HEIGHT - MARGIN_BOTTOM,
    }


def _scale(highest: float, start: float, end: float) -> Callable[[float], float]:
    return lambda value: start + (end - start) * (value / highest)


def _legend(entries: list[tuple[str, str]], top: float) -> list[LegendEntry]:
    return [
        LegendEntry(label=label, colour=colour, y=top + 8 + 20 * index)
        for index, (label, colour) in enumerate(entries)
    ]
