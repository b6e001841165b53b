"""Bar charts as plain geometry; a template draws them as inline SVG (no script, works offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 200
LEFT = 52  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 10
RIGHT = 22  # room for the last x-axis label


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    title: str  # shown as a tooltip (<title>), escaped by the template


@dataclass(frozen=True)
class Tick:
    at: float
    label: str


@dataclass(frozen=True)
class BarChart:
    width: int
    height: int
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    plot_left: int
    plot_bottom: int
    empty: bool


def nice_step(value: float, parts: int = 4) -> float:
    """The smallest 1, 2 or 5 times a power of ten such that `parts` steps reach `value`."""
    if value <= 0:
        return 1.0
    wanted = value / parts
    power = 10 ** math.floor(math.log10(wanted))
    for step in (1, 2, 5, 10):
        if step * power >= wanted:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def bar_chart(
    values: list[float],
    titles: list[str],
    x_labels: dict[int, str],
    fmt: str = "{:g}",
    least: float = 4.0,
) -> BarChart:
    """Bars for `values` in order; `x_labels` maps some bar indexes to axis labels.

    The y axis reaches at least `least`, so a few tiny values do not fill the chart.
    """
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - BOTTOM - TOP
    step = nice_step(max([*values, least]))
    top = step * 4
    slot = plot_width / max(len(values), 1)
    gap = min(2.0, slot * 0.2)
    bars = []
    for index, (value, title) in enumerate(zip(values, titles, strict=True)):
        height = plot_height * value / top
        bars.append(
            Bar(
                x=round(LEFT + index * slot + gap / 2, 2),
                y=round(TOP + plot_height - height, 2),
                width=round(max(slot - gap, 1.0), 2),
                height=round(height, 2),
                title=title,
            )
        )
    y_ticks = [
        Tick(round(TOP + plot_height * (1 - part / 4), 2), fmt.format(step * part)) for part in range(5)
    ]
    x_ticks = [Tick(round(LEFT + (i + 0.5) * slot, 2), label) for i, label in sorted(x_labels.items())]
    return BarChart(
        WIDTH,
        HEIGHT,
        bars,
        y_ticks,
        x_ticks,
        plot_left=LEFT,
        plot_bottom=TOP + plot_height,
        empty=not any(values),
    )


def duration_chart(seconds: list[float], titles: list[str]) -> BarChart:
    """Bars for durations in seconds on an axis scaled to the data (no fixed minimum, so runs of
    a few milliseconds still show); labelled in ms while the axis stays under 1 s."""
    if 4 * nice_step(max(seconds, default=0.0)) < 1:
        # Rounded so float noise (0.2 * 1000 = 200.00000000000003) does not push the axis a step up.
        millis = [round(value * 1000, 6) for value in seconds]
        return bar_chart(millis, titles, {}, fmt="{:g} ms", least=0.0)
    return bar_chart(seconds, titles, {}, fmt="{:g} s", least=0.0)
