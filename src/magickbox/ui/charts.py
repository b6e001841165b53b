"""Bar charts as plain geometry; a template draws them as inline SVG (no script, works offline)."""

from __future__ import annotations

import math
from dataclasses import dataclass

WIDTH = 640
HEIGHT = 200
LEFT = 44  # room for the y-axis labels
BOTTOM = 24  # room for the x-axis labels
TOP = 10


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


def nice_top(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (and at least 1)."""
    if value <= 1:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 5, 10):
        if step * power >= value:
            return float(step * power)
    return float(10 * power)  # pragma: no cover - the loop always returns


def bar_chart(
    values: list[float], titles: list[str], x_labels: dict[int, str], fmt: str = "{:.0f}"
) -> BarChart:
    """Bars for `values` in order; `x_labels` maps some bar indexes to axis labels."""
    plot_width = WIDTH - LEFT - 4
    plot_height = HEIGHT - BOTTOM - TOP
    top = nice_top(max(values, default=0.0))
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
        Tick(round(TOP + plot_height * (1 - part / 4), 2), fmt.format(top * part / 4)) for part in range(5)
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
