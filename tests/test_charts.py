"""The charts' text and layout, read from the matplotlib figures (not from pixels): tick labels
that never repeat, tokens the font cannot draw, labels and legends that cover nothing."""

from __future__ import annotations

import random
import warnings

import pytest
from matplotlib.text import Text

from bot import charts


def visible_ticks(axis) -> list[str]:
    """The tick labels an axis shows inside its view."""
    low, high = sorted(axis.get_view_interval())
    return [
        tick.label1.get_text()
        for tick, value in zip(axis.get_major_ticks(), axis.get_majorticklocs(), strict=False)
        if low - 1e-12 <= value <= high + 1e-12
    ]


def overlap(a, b) -> bool:
    """Whether two display boxes share any area (touching edges do not count)."""
    return a.x0 < b.x1 and b.x0 < a.x1 and a.y0 < b.y1 and b.y0 < a.y1


def text_box(text: Text, renderer):
    """A text's own box, without the line an annotation may draw back to its point."""
    text.update_positions(renderer)  # an annotation's offset from its point
    return Text.get_window_extent(text, renderer)


@pytest.mark.parametrize("top", [0.95, 0.4, 0.08, 0.012, 0.004, 0.0011, 0.00003])
def test_probability_ticks_never_repeat_whatever_the_temperature(top):
    # Temperature 2 flattens GPT-2's distribution to about 1% at most: whole percentages
    # repeated ("0% 0% 0% 1% 1%").
    fig = charts.probability_figure(["a", "b", "c"], [top, top * 0.8, top * 0.4], "t")
    fig.draw_without_rendering()
    ticks = visible_ticks(fig.axes[0].xaxis)
    assert len(ticks) >= 3 and len(set(ticks)) == len(ticks), ticks
    assert all(t.endswith("%") for t in ticks)


def test_probability_ticks_keep_no_needless_decimals():
    fig = charts.probability_figure(["a", "b"], [0.9, 0.1], "t")
    fig.draw_without_rendering()
    ticks = visible_ticks(fig.axes[0].xaxis)
    assert ticks[:3] == ["0%", "20%", "40%"]


def test_the_formatter_adds_decimals_only_as_needed():
    formatter = charts.TickPercent()
    assert formatter.format_ticks([0, 0.0025, 0.005, 0.0075]) == [
        "0.00%",
        "0.25%",
        "0.50%",
        "0.75%",
    ]
    assert formatter.format_ticks([0, 0.002, 0.004]) == ["0.0%", "0.2%", "0.4%"]
    assert formatter.format_ticks([0, 0.5, 1]) == ["0%", "50%", "100%"]


def test_bar_values_never_read_zero():
    fig = charts.probability_figure(["a", "b"], [0.4, 0.0002], "t")
    values = [t.get_text() for t in fig.axes[0].texts]
    assert values == ["40.0%", "<0.1%"]


def test_glyphs_missing_from_the_font_are_written_as_code_points():
    assert charts.chart_text("🔥") == "U+1F525"
    assert charts.chart_text("␣汉字!") == "␣U+6C49 U+5B57!"
    assert charts.chart_text("␣cat↵") == "␣cat↵"  # the display marks are in the font
    assert charts.chart_text("$5 or $6") == r"\$5 or \$6"


def test_an_emoji_token_is_readable_on_the_chart():
    labels = ["🔥", "␣cat", "汉字", r"$\frac$"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig = charts.probability_figure(labels, [0.5, 0.2, 0.1, 0.05], "Fire 🔥 costs $5 or $6")
        png = charts.png(fig)
    assert png.startswith(b"\x89PNG")
    assert not [w for w in caught if "missing from font" in str(w.message)]
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert ticks == ["U+1F525", "␣cat", "U+6C49 U+5B57", r"\$\frac\$"]
    assert fig.axes[0].get_title(loc="left") == r"Fire U+1F525 costs \$5 or \$6"


@pytest.mark.parametrize(
    "figure",
    [
        lambda labels: charts.attention_figure(labels, [[1.0, 0.0], [0.5, 0.5]], "t"),
        lambda labels: charts.train_step_figure([2.0, 1.0], labels, [0.1, 0.2], [0.3, 0.4], "t"),
        lambda labels: charts.sampler_stages_figure(labels, ["model"], [10], [[0.6, 0.4]], 0),
    ],
)
def test_every_chart_with_token_labels_writes_missing_glyphs_as_code_points(figure):
    fig = figure(["🔥", "ok"])
    shown = {t.get_text() for ax in fig.axes for t in ax.get_yticklabels()}
    assert "U+1F525" in shown and "🔥" not in shown


def crowded_points(seed: int = 0) -> list[tuple[str, float, float, str, bool]]:
    """The most /embedding draws (8 words, 20 neighbours each), nearly all in one clump, one
    point far away, and a token that is a neighbour of two words (drawn twice)."""
    rng = random.Random(seed)
    points = []
    for w in range(8):
        word = f"word{w}"
        points.append((word, rng.gauss(0, 0.03), rng.gauss(0, 0.03), word, True))
        points += [
            (f"␣tok{w}_{k}", rng.gauss(0, 0.03), rng.gauss(0, 0.03), word, False) for k in range(20)
        ]
    points.append(("␣shared", 0.01, 0.01, "word0", False))
    points.append(("␣shared", 0.01, 0.01, "word1", False))
    points.append(("far", 1.0, 1.0, "word2", False))
    return points


@pytest.mark.parametrize("seed", [0, 1])
def test_embedding_labels_never_overlap_in_a_crowded_map(seed):
    points = crowded_points(seed)
    fig = charts.embedding_figure(points, "Token embeddings (PCA)")
    ax = fig.axes[0]
    renderer = fig.canvas.get_renderer()
    labels = list(ax.texts)
    boxes = [text_box(t, renderer) for t in labels]
    for i, a in enumerate(boxes):
        for j in range(i):
            assert not overlap(a, boxes[j]), (labels[i].get_text(), labels[j].get_text())
    area = ax.get_window_extent(renderer)
    assert all(
        area.x0 <= b.x0 and b.x1 <= area.x1 and area.y0 <= b.y0 and b.y1 <= area.y1 for b in boxes
    )
    shown = [t.get_text() for t in labels]
    assert all(f"word{w}" in shown for w in range(8))  # the words always get their label
    assert shown.count("␣shared") <= 1
    left_out = len({(p[0], p[1], p[2]) for p in points}) - len(labels)
    assert left_out > 0
    assert ax.get_title(loc="left").endswith(f"({left_out} labels left out where crowded)")


def test_a_roomy_embedding_map_labels_every_point():
    points = []
    for w, (x, y) in enumerate([(0, 0), (1, 0), (0, 1), (1, 1)]):
        points.append((f"word{w}", x, y, f"word{w}", True))
        points += [(f"n{w}{k}", x + 0.15 * k, y + 0.08, f"word{w}", False) for k in (-1, 1)]
    fig = charts.embedding_figure(points, "Token embeddings (PCA)")
    ax = fig.axes[0]
    assert sorted(t.get_text() for t in ax.texts) == sorted(p[0] for p in points)
    assert ax.get_title(loc="left") == "Token embeddings (PCA)"


@pytest.mark.parametrize("n", [1, 6, 30])
def test_the_train_step_legend_covers_no_bar(n):
    labels = [f"tok{i}" for i in range(n)]
    # Bars that run the whole width: the legend's old corner (lower right) covered them.
    fig = charts.train_step_figure([3.0, 1.0], labels, [0.99] * n, [1.0] * n, "A title " * 6)
    renderer = fig.canvas.get_renderer()
    right = fig.axes[1]
    legend = right.get_legend().get_window_extent(renderer)
    bars = [patch.get_window_extent(renderer) for patch in right.patches]
    assert len(bars) == 2 * n and not any(overlap(legend, bar) for bar in bars)
    assert not overlap(legend, fig._suptitle.get_window_extent(renderer))
    assert fig.bbox.x0 <= legend.x0 and legend.x1 <= fig.bbox.x1 and legend.y1 <= fig.bbox.y1


def test_the_png_functions_still_give_png_bytes():
    assert charts.loss_curve([3.0, 2.0, 1.5], "loss").startswith(b"\x89PNG")
    assert charts.embedding_map(crowded_points(), "map").startswith(b"\x89PNG")
