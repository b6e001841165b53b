from __future__ import annotations

from magickbox.ui import charts


def test_steps_are_round_numbers() -> None:
    assert charts.nice_step(3) == 1
    assert charts.nice_step(9) == 5
    assert charts.nice_step(41) == 20
    assert charts.nice_step(0.3) == 0.1
    assert charts.nice_step(0) == 1


def test_bars_are_proportional_and_inside_the_plot() -> None:
    chart = charts.bar_chart([0, 2, 4], ["a", "b", "c"], {0: "first"})
    assert [b.title for b in chart.bars] == ["a", "b", "c"]
    assert chart.bars[0].height == 0
    assert abs(chart.bars[2].height - 2 * chart.bars[1].height) < 0.05
    assert all(b.x >= charts.LEFT and b.x + b.width <= charts.WIDTH for b in chart.bars)
    assert all(b.y + b.height <= chart.plot_bottom + 0.01 for b in chart.bars)
    assert [t.label for t in chart.y_ticks] == ["0", "1", "2", "3", "4"]
    assert chart.x_ticks[0].label == "first" and not chart.empty


def test_empty_chart_says_so() -> None:
    chart = charts.bar_chart([], [], {})
    assert chart.empty and chart.bars == []


def test_duration_axis_scales_to_millisecond_runs() -> None:
    chart = charts.duration_chart([0.004, 0.012, 0.008], ["a", "b", "c"])
    assert [t.label for t in chart.y_ticks] == ["0 ms", "5 ms", "10 ms", "15 ms", "20 ms"]
    plot_height = chart.plot_bottom - charts.TOP
    assert max(b.height for b in chart.bars) > 0.4 * plot_height  # visible, not a sliver under 2 s
    assert abs(chart.bars[1].height - 3 * chart.bars[0].height) < 0.05


def test_duration_axis_in_seconds_once_it_reaches_one_second() -> None:
    assert [t.label for t in charts.duration_chart([0.9], ["a"]).y_ticks] == [
        "0 s",
        "0.5 s",
        "1 s",
        "1.5 s",
        "2 s",
    ]
    chart = charts.duration_chart([30, 95], ["a", "b"])
    assert [t.label for t in chart.y_ticks] == ["0 s", "50 s", "100 s", "150 s", "200 s"]
    assert [t.label for t in charts.duration_chart([0.2], ["a"]).y_ticks][-1] == "200 ms"
