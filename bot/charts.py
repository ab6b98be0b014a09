"""Charts as PNG images for Discord (matplotlib, off-screen).

Each chart has a `*_figure` function that builds and lays out a matplotlib `Figure` (tests
read its labels and positions) and a function of the chart's own name that returns the PNG
bytes. Figures are made without pyplot, so charts drawn on several threads at once share no
pyplot state (its list of open figures). Drawing takes tens of milliseconds of CPU, so callers run the PNG functions in a
thread (`asyncio.to_thread`), never on the event loop.

Text on a chart goes through `chart_text`: a character the font cannot draw (most emoji, CJK)
is written as its code point (`U+1F525`) instead of an empty box, and `$` stays a dollar sign
instead of starting matplotlib's maths mode.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal, ParamSpec

import numpy as np
from matplotlib import font_manager
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.ticker import Formatter, MaxNLocator

BAR_COLOUR = "#5865F2"
HELD_OUT_COLOUR = "#ED4245"  # the held-out loss beside the training loss
P = ParamSpec("P")


# --- text ------------------------------------------------------------------------------------


@functools.cache
def _drawable() -> frozenset[int]:
    """Code points that the charts' font has a glyph for, in regular and in bold."""
    charmaps = []
    for weight in ("normal", "bold"):
        path = font_manager.findfont(font_manager.FontProperties(weight=weight))
        charmaps.append(set(FT2Font(path).get_charmap()))
    return frozenset(set.intersection(*charmaps))


def chart_text(text: str) -> str:
    """`text` as a chart can show it: characters missing from the font as `U+XXXX` (runs of
    them separated by spaces), `$` escaped so it is never read as maths."""
    drawable = _drawable()
    parts: list[str] = []
    escaped = False  # the previous part was a code point
    for ch in text:
        if ord(ch) in drawable or ch in "\n ":
            parts.append("\\$" if ch == "$" else ch)
            escaped = False
        else:
            parts.append((" " if escaped else "") + f"U+{ord(ch):04X}")
            escaped = True
    return "".join(parts)


def percent_text(p: float) -> str:
    """A bar's value: one decimal, and `<0.1%` rather than a misleading `0.0%`."""
    return "<0.1%" if 0 < p < 0.0005 else f"{p:.1%}"


class TickPercent(Formatter):
    """Tick labels as percentages with as few decimals as show every tick exactly
    (`0% 20% 40%`, `0.0% 0.2% 0.4%`, `0.00% 0.25% 0.50%`), whatever the axis's range, so no
    two ticks ever read the same."""

    MAX_DECIMALS = 6

    def __init__(self) -> None:
        self.decimals = 0

    def set_locs(self, locs) -> None:
        super().set_locs(locs)
        percents = [value * 100 for value in locs]
        for decimals in range(self.MAX_DECIMALS + 1):
            labels = [f"{p:.{decimals}f}" for p in percents]
            exact = all(
                abs(float(label) - p) <= 1e-9 * max(1.0, abs(p))
                for label, p in zip(labels, percents, strict=True)
            )
            if exact and len(set(labels)) == len(labels):
                break
        self.decimals = decimals

    def __call__(self, x, pos=None) -> str:
        return f"{x * 100:.{self.decimals}f}%"


def _percent_axis(axis, bins: int = 6) -> None:
    """A probability axis: round steps, labels that never repeat."""
    axis.set_major_locator(MaxNLocator(bins, steps=[1, 2, 2.5, 5, 10]))
    axis.set_major_formatter(TickPercent())


# --- figures ---------------------------------------------------------------------------------


def _new_figure(**kwargs) -> Figure:
    """A figure drawn by Agg, outside pyplot."""
    figure = Figure(**kwargs)
    FigureCanvasAgg(figure)
    return figure


def _style(fig: Figure, ax: Axes, title: str) -> Figure:
    """Common styling and layout; the figure is then ready to read or to save."""
    if title:
        ax.set_title(chart_text(title), fontsize=11, loc="left")
    ax.spines[["top", "right"]].set_visible(False)
    fig.tight_layout()
    return fig


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    out = io.BytesIO()
    fig.savefig(out, format="png")
    return out.getvalue()


def _as_png(build: Callable[P, Figure]) -> Callable[P, bytes]:
    """The PNG version of a figure-building function, with the same arguments."""

    @functools.wraps(build)
    def render(*args: P.args, **kwargs: P.kwargs) -> bytes:
        return png(build(*args, **kwargs))

    return render


def probability_figure(labels: list[str], probabilities: list[float], title: str) -> Figure:
    """Horizontal bars, most likely at the top, each labelled with its percentage."""
    fig = _new_figure(figsize=(6.4, 1.2 + 0.42 * len(labels)), dpi=110)
    ax = fig.subplots()
    positions = range(len(labels))[::-1]
    ax.barh(list(positions), probabilities, color=BAR_COLOUR)
    ax.set_yticks(list(positions), labels=[chart_text(label) for label in labels], fontsize=11)
    top = max(probabilities, default=0.0) or 1.0
    for y, p in zip(positions, probabilities, strict=True):
        ax.text(p + top * 0.01, y, percent_text(p), va="center", fontsize=10)
    ax.set_xlim(0, top * 1.18)
    _percent_axis(ax.xaxis)
    ax.set_xlabel("probability")
    return _style(fig, ax, title)


def loss_figure(
    losses: list[float],
    title: str,
    held_out: Sequence[float] = (),
    steps_per_epoch: int = 0,
) -> Figure:
    """Training loss per step: the line should go down as the model learns the pool. With
    `held_out` (the held-out sentences' loss before training and after each epoch), a second
    line at the epochs' ends: where it turns up while training loss still falls, the model
    has begun to memorise its training sentences (overfitting)."""
    fig = _new_figure(figsize=(6.4, 3.4), dpi=110)
    ax = fig.subplots()
    marker = "o" if len(losses) < 30 else None
    ax.plot(range(1, len(losses) + 1), losses, color=BAR_COLOUR, marker=marker, label="training")
    if held_out and steps_per_epoch:
        steps = [epoch * steps_per_epoch for epoch in range(len(held_out))]
        ax.plot(steps, list(held_out), color=HELD_OUT_COLOUR, marker="s", label="held out")
        lowest = min(range(len(held_out)), key=lambda n: held_out[n])
        if lowest < len(held_out) - 1:  # it rose again after its lowest point
            ax.axvline(steps[lowest], color=HELD_OUT_COLOUR, linestyle=":", linewidth=1)
        ax.legend(loc="upper right", fontsize=9, frameon=False)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    return _style(fig, ax, title)


def attention_figure(labels: list[str], weights: list[list[float]], title: str) -> Figure:
    """Each row a token, each column an earlier token it can attend to; darker = more weight."""
    n = len(labels)
    side = min(12.0, 2.4 + 0.3 * n)
    font = 11 if n <= 16 else 9 if n <= 32 else 7
    fig = _new_figure(figsize=(side, side * 0.92), dpi=110)
    ax = fig.subplots()
    # Most heads park spare weight on the first token (an "attention sink"); scaling the colours
    # to the other tokens keeps the links between words visible (the first column saturates).
    rest = max((w for row in weights[1:] for w in row[1:]), default=1.0)
    top = 1.0 if n < 3 else min(1.0, max(0.05, rest))
    image = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    shown = [chart_text(label) for label in labels]
    ax.set_xticks(range(n), labels=shown, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels=shown, fontsize=font)
    ax.set_xlabel("attends to (earlier tokens)")
    ax.set_ylabel("token")
    label = "attention weight" + (" (first column off the scale)" if top < 1.0 else "")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label=label)
    return _style(fig, ax, title)


PALETTE = ["#5865F2", "#ED4245", "#57F287", "#FAA61A", "#EB459E", "#3BA55C", "#9B59B6", "#1ABC9C"]

# Where a label may go around its point, in order of preference: right, above, left, below,
# then the diagonals; each ring is farther out than the last.
_DIRECTIONS = [(1, 0), (0, 1), (-1, 0), (0, -1), (1, 1), (-1, 1), (-1, -1), (1, -1)]
_RINGS = 7


def _first_free(boxes: np.ndarray, taken: np.ndarray, area) -> int | None:
    """The index of the first of `boxes` (rows of x0, y0, x1, y1) that lies inside `area` and
    overlaps none of the `taken` boxes, or None."""
    inside = (
        (area.x0 <= boxes[:, 0])
        & (boxes[:, 2] <= area.x1)
        & (area.y0 <= boxes[:, 1])
        & (boxes[:, 3] <= area.y1)
    )
    if len(taken):
        b, t = boxes[:, None, :], taken[None, :, :]
        apart = (
            (b[..., 2] <= t[..., 0])
            | (t[..., 2] <= b[..., 0])
            | (b[..., 3] <= t[..., 1])
            | (t[..., 3] <= b[..., 1])
        )
        inside &= apart.all(axis=1)
    found = np.flatnonzero(inside)
    return int(found[0]) if len(found) else None


def _candidates(px: float, py: float, half_w: float, half_h: float) -> np.ndarray:
    """Boxes for a label around the point (px, py), nearest ring first, rows x0, y0, x1, y1."""
    rows = []
    for ring in range(_RINGS):
        gap = 4 + ring * 2 * half_h
        for dx, dy in _DIRECTIONS:
            norm = math.hypot(dx, dy)
            cx = px + dx / norm * (gap + half_w)
            cy = py + dy / norm * (gap + half_h)
            rows.append([cx - half_w, cy - half_h, cx + half_w, cy + half_h])
    return np.array(rows)


def _place_labels(
    fig: Figure,
    ax: Axes,
    labels: Sequence[tuple[str, float, float, dict]],
    points: Sequence[tuple[float, float, float]],
) -> int:
    """Annotate each `(text, x, y, style)` next to its point where it overlaps no other label
    and stays inside the axes, trying places farther out when the near ones are taken (with a
    thin line back to the point). A label keeps off the `(x, y, marker size)` points too where
    it can. The first labels get the first choice; a later one that fits nowhere is left out
    (its point stays). Returns how many were left out."""
    fig.draw_without_rendering()  # final axes position and limits
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    area = ax.get_window_extent(renderer)
    to_points = 72 / fig.dpi
    markers = np.array(
        [
            [*(xy - r), *(xy + r)]
            for x, y, size in points
            for xy, r in [(ax.transData.transform((x, y)), math.sqrt(size) / 2 / to_points)]
        ]
    ).reshape(-1, 4)
    taken = np.empty((0, 4))
    seen: set[tuple[str, float, float]] = set()
    left_out = 0
    for text, x, y, style in labels:
        if (text, x, y) in seen:  # the same token as a neighbour of two words
            continue
        seen.add((text, x, y))
        probe = ax.text(0, 0, text, **style)
        extent = probe.get_window_extent(renderer)
        probe.remove()
        half_w, half_h = extent.width / 2 + 1, extent.height / 2 + 1
        px, py = ax.transData.transform((x, y))
        boxes = _candidates(px, py, half_w, half_h)
        index = None
        for obstacles in (np.vstack([taken, markers]), taken):  # off the points, if it can be
            index = _first_free(boxes, obstacles, area)
            if index is not None:
                break
        if index is None:
            left_out += 1
            continue
        box, ring = boxes[index], index // len(_DIRECTIONS)
        off_x, off_y = (box[0] + box[2]) / 2 - px, (box[1] + box[3]) / 2 - py
        taken = np.vstack([taken, box])
        line = {"arrowstyle": "-", "color": "#99AAB5", "lw": 0.6} if ring else None
        ax.annotate(
            text,
            (x, y),
            xytext=(off_x * to_points, off_y * to_points),
            textcoords="offset points",
            ha="center",
            va="center",
            arrowprops=line,
            **style,
        )
    return left_out


def embedding_figure(points: list[tuple[str, float, float, str, bool]], title: str) -> Figure:
    """Words (large) and their nearest tokens (small) on the first two principal components;
    each word and its neighbours share a colour. Labels never overlap: where the map is too
    crowded, some neighbours' labels are left out (the title says how many)."""
    fig = _new_figure(figsize=(6.8, 5.6), dpi=110)
    ax = fig.subplots()
    words = list(dict.fromkeys(point[3] for point in points))
    labels, markers = [], []
    for label, x, y, word, is_word in points:
        colour = PALETTE[words.index(word) % len(PALETTE)]
        size = 90 if is_word else 22
        ax.scatter([x], [y], s=size, color=colour, alpha=1.0 if is_word else 0.7)
        markers.append((x, y, size))
        style = {
            "fontsize": 11 if is_word else 8,
            "fontweight": "bold" if is_word else "normal",
            "color": colour if is_word else "#333333",
        }
        labels.append((is_word, chart_text(label), x, y, style))
    ax.margins(0.15)  # room for the labels of the outermost points
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    _style(fig, ax, title)
    ordered = sorted(labels, key=lambda item: not item[0])  # words first, in their order
    left_out = _place_labels(fig, ax, [item[1:] for item in ordered], markers)
    if left_out:
        note = f"{left_out} label{'s' if left_out != 1 else ''} left out where crowded"
        ax.set_title(f"{chart_text(title)}  ({note})", fontsize=11, loc="left")
    return fig


def train_step_figure(
    losses: list[float], labels: list[str], before: list[float], after: list[float], title: str
) -> Figure:
    """Left: the sentence's loss before and after each step. Right: each token's probability
    before training and after the last step; the legend sits above the bars, never on them."""
    n = len(labels)
    fig = _new_figure(figsize=(9.6, max(3.2, 1.0 + 0.3 * n)), dpi=110)
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.3])
    left.plot(range(len(losses)), losses, color=BAR_COLOUR, marker="o")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("gradient steps")
    left.set_ylabel("loss of the sentence")
    left.spines[["top", "right"]].set_visible(False)
    positions = list(range(n))[::-1]
    height = 0.4
    right.barh([p + height / 2 for p in positions], before, height, color="#B9BBBE", label="before")
    right.barh([p - height / 2 for p in positions], after, height, color=BAR_COLOUR, label="after")
    right.set_yticks(
        positions, labels=[chart_text(label) for label in labels], fontsize=9 if n > 20 else 10
    )
    right.set_xlim(0, 1)
    _percent_axis(right.xaxis)
    right.set_xlabel("probability of the token")
    # Above the plot, at its right end: outside the bars whatever their lengths. The chart's
    # title goes over the whole figure, so the two never meet.
    right.legend(loc="lower right", bbox_to_anchor=(1.0, 1.01), ncols=2, fontsize=9, frameon=False)
    right.spines[["top", "right"]].set_visible(False)
    if title:
        fig.suptitle(chart_text(title), fontsize=11, x=0.01, ha="left")
    fig.tight_layout()
    return fig


def sampler_stages_figure(
    labels: list[str],
    stages: list[str],
    kept: list[int],
    probabilities: list[list[float]],
    drawn: int,
) -> Figure:
    """One panel per stage of Random Sampling, side by side, the same tokens in the same rows:
    how each stage reshapes the distribution. `probabilities[s][t]` is token t after stage s;
    a removed token's row is marked ×; row `drawn` is the token drawn from the last stage."""
    n = len(labels)
    fig = _new_figure(figsize=(2.3 * len(stages) + 1.2, 1.3 + 0.34 * n), dpi=110)
    axes = fig.subplots(1, len(stages), sharey=True, squeeze=False)[0]
    positions = list(range(n))[::-1]
    top = max((p for stage in probabilities for p in stage), default=0.0) or 1.0
    for index, ax in enumerate(axes):
        values = probabilities[index]
        ax.barh(positions, values, color=PALETTE[index % len(PALETTE)])
        for y, p in zip(positions, values, strict=True):
            ax.text(
                p + top * 0.02 if p else top * 0.02,
                y,
                percent_text(p) if p else "×",
                va="center",
                fontsize=8,
                color="#333333" if p else "#ED4245",
            )
        ax.set_xlim(0, top * 1.35)
        _percent_axis(ax.xaxis, bins=3)
        ax.set_title(f"{stages[index]}\n{kept[index]:,} tokens left", fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    last, y = axes[-1], positions[drawn]
    last.text(probabilities[-1][drawn] + top * 0.22, y, "◀ drawn", va="center", fontsize=8)
    shown = [chart_text(label) for label in labels]
    axes[0].set_yticks(positions, labels=shown, fontsize=10)
    for tick in axes[0].get_yticklabels():
        if tick.get_text() == shown[drawn]:
            tick.set_fontweight("bold")
    fig.supxlabel("probability of the next token", fontsize=9)
    return _style(fig, axes[0], "")


@dataclass(frozen=True)
class TreeNode:
    """One continuation in the beam tree: a token, its score, and what the search did with it."""

    label: str  # the token as a student reads it (a leading space as ␣)
    score: float  # summed log-probability of the beam up to and with this token
    fate: str  # "kept", "finished" or "dropped"
    parent: int  # the node it extends in the column before (the first column: the prompt, 0)
    winner: bool = False  # on the path of the hypothesis beam search returns
    final: float | None = None  # finished: the length-penalised score hypotheses are ranked by


# How each fate is drawn: (edge colour, face colour, edge line style, text colour).
TREE_STYLES: dict[str, tuple[str, str, Literal["solid", "dashed"], str]] = {
    "kept": ("#5865F2", "#FFFFFF", "solid", "#202225"),
    "finished": ("#FAA61A", "#FFF4E0", "solid", "#202225"),
    "dropped": ("#99AAB5", "#FFFFFF", "dashed", "#72767D"),
}
WINNER_COLOUR = "#3BA55C"
TREE_LABEL_CHARS = 12  # a longer token is cut, so that the columns keep apart
_HALF_NODE = 0.36  # half a node's width, in steps: where the edges meet the boxes


def tree_node_text(node: TreeNode) -> str:
    """A node's two lines: the token, then its score (a finished one's ranking score too)."""
    label = node.label if len(node.label) <= TREE_LABEL_CHARS else node.label[:11] + "…"
    score = f"{node.score:.2f}"
    if node.final is not None:
        score += f" ({node.final:.2f})"
    return f"{chart_text(label)}\n{score}"


def beam_tree_figure(prompt: str, columns: Sequence[Sequence[TreeNode]], title: str) -> Figure:
    """Beam search left to right: the prompt, then each step's continuations, best (highest
    score) at the top; kept beams in blue boxes, finished hypotheses in amber, dropped ones
    grey and dashed, each joined to the beam it extends; the winner's path bold and green."""
    steps = len(columns)
    rows = max((len(column) for column in columns), default=1)
    width, height = 1.2 + 1.75 * (steps + 1), 1.3 + 0.58 * rows
    fig = _new_figure(figsize=(width, height), dpi=110)
    ax = fig.subplots()
    # Fixed margins in inches: the title above, the legend below.
    fig.subplots_adjust(left=0.01, right=0.99, top=1 - 0.55 / height, bottom=0.45 / height)
    ax.set_axis_off()
    ax.set_xlim(-0.5, steps + 0.5)
    ax.set_ylim(-rows + 0.5, 0.75)

    def node(x: float, y: float, text: str, fate: str, winner: bool) -> Text:
        edge, face, style, colour = TREE_STYLES[fate]
        return ax.text(
            x,
            y,
            text,
            ha="center",
            va="center",
            fontsize=9,
            color=colour,
            fontweight="bold" if winner else "normal",
            bbox={
                "boxstyle": "round,pad=0.3",
                "facecolor": face,
                "edgecolor": WINNER_COLOUR if winner else edge,
                "linestyle": style,
                "linewidth": 2.4 if winner else 1.0,
            },
            zorder=3,
            gid=f"{fate}{'-winner' if winner else ''}",
        )

    ax.text(0, 0.55, "prompt", ha="center", fontsize=9, color="#4F545C")
    boxes: list[list[Text]] = [[node(0, 0, chart_text(prompt), "kept", winner=True)]]
    for step, column in enumerate(columns, 1):
        ax.text(step, 0.55, f"step {step}", ha="center", fontsize=9, color="#4F545C")
        boxes.append(
            [
                node(step, -rank, tree_node_text(item), item.fate, item.winner)
                for rank, item in enumerate(column)
            ]
        )
    # Edges run from the right side of a parent's box to the left side of its child's.
    fig.draw_without_rendering()
    to_data = ax.transData.inverted()

    def side(text: Text, right: bool) -> float:
        patch = text.get_bbox_patch()
        extent = (patch or text).get_window_extent()
        x, _ = to_data.transform((extent.x1 if right else extent.x0, extent.y0))
        return float(x)

    for step, column in enumerate(columns, 1):
        for rank, item in enumerate(column):
            parent = boxes[step - 1][item.parent if step > 1 else 0]
            dropped = item.fate == "dropped"
            ax.plot(
                [side(parent, right=True), side(boxes[step][rank], right=False)],
                [parent.get_position()[1], -rank],
                color=WINNER_COLOUR if item.winner else TREE_STYLES[item.fate][0],
                linewidth=2.4 if item.winner else 0.6 if dropped else 0.9,
                linestyle="dashed" if dropped else "solid",
                alpha=0.7 if dropped else 1.0,
                zorder=2 if item.winner else 1,
            )
    handles: list[Artist] = [
        Patch(facecolor=face, edgecolor=edge, linestyle=style, label=label)
        for (edge, face, style, _), label in zip(
            TREE_STYLES.values(),
            ["kept: a beam carried on", "finished (score ÷ length)", "dropped"],
            strict=True,
        )
    ]
    handles.append(Line2D([], [], color=WINNER_COLOUR, linewidth=2.4, label="the winner's path"))
    fig.legend(handles=handles, loc="lower left", ncols=4, fontsize=9, frameon=False)
    if title:
        ax.set_title(chart_text(title), fontsize=11, loc="left")
    return fig


def vote_tally_figure(methods: list[str], votes: list[int], won: list[int], title: str) -> Figure:
    """The class's votes per decoding method as horizontal bars, the most voted at the top,
    each labelled with its votes, its share and the prompts it won."""
    order = sorted(range(len(methods)), key=lambda n: -votes[n])
    fig = _new_figure(figsize=(6.4, 1.4 + 0.5 * len(methods)), dpi=110)
    ax = fig.subplots()
    positions = list(range(len(methods)))[::-1]
    shown = [votes[n] for n in order]
    ax.barh(positions, shown, color=BAR_COLOUR)
    ax.set_yticks(positions, labels=[chart_text(methods[n]) for n in order], fontsize=11)
    total = sum(votes) or 1
    top = max(votes, default=0) or 1
    for y, n in zip(positions, order, strict=True):
        prompts = "prompt" if won[n] == 1 else "prompts"
        label = f"{votes[n]} ({votes[n] / total:.0%}) · won {won[n]} {prompts}"
        ax.text(votes[n] + top * 0.02, y, label, va="center", fontsize=10)
    ax.set_xlim(0, top * 1.6)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("votes for the most coherent continuation")
    return _style(fig, ax, title)


probability_bars = _as_png(probability_figure)
loss_curve = _as_png(loss_figure)
attention_heatmap = _as_png(attention_figure)
embedding_map = _as_png(embedding_figure)
train_step_chart = _as_png(train_step_figure)
sampler_stages_chart = _as_png(sampler_stages_figure)
beam_tree_chart = _as_png(beam_tree_figure)
vote_tally_chart = _as_png(vote_tally_figure)
