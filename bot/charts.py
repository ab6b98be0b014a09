"""Charts as PNG images for Discord (matplotlib, off-screen).

Drawing takes tens of milliseconds of CPU, so callers run these functions in a thread
(`asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator, PercentFormatter  # noqa: E402

BAR_COLOUR = "#5865F2"


def _finish(fig, ax, title: str) -> bytes:
    """Common styling, then the figure as PNG bytes (and freed)."""
    try:
        if title:
            ax.set_title(title, fontsize=11, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


def probability_bars(labels: list[str], probabilities: list[float], title: str) -> bytes:
    """Horizontal bars, most likely at the top, each labelled with its percentage."""
    fig, ax = plt.subplots(figsize=(6.4, 1.2 + 0.42 * len(labels)), dpi=110)
    positions = range(len(labels))[::-1]
    ax.barh(list(positions), probabilities, color=BAR_COLOUR)
    ax.set_yticks(list(positions), labels=labels, fontsize=11)
    top = max(probabilities, default=0.0) or 1.0
    for y, p in zip(positions, probabilities, strict=True):
        ax.text(p + top * 0.01, y, f"{p:.1%}", va="center", fontsize=10)
    ax.set_xlim(0, top * 1.18)
    ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    ax.set_xlabel("probability")
    return _finish(fig, ax, title)


def loss_curve(losses: list[float], title: str) -> bytes:
    """Training loss per step: the line should go down as the model learns the pool."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    marker = "o" if len(losses) < 30 else None
    ax.plot(range(1, len(losses) + 1), losses, color=BAR_COLOUR, marker=marker)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("training step")
    ax.set_ylabel("loss")
    return _finish(fig, ax, title)


def attention_heatmap(labels: list[str], weights: list[list[float]], title: str) -> bytes:
    """Each row a token, each column an earlier token it can attend to; darker = more weight."""
    n = len(labels)
    side = min(12.0, 2.4 + 0.3 * n)
    font = 11 if n <= 16 else 9 if n <= 32 else 7
    fig, ax = plt.subplots(figsize=(side, side * 0.92), dpi=110)
    # Most heads park spare weight on the first token (an "attention sink"); scaling the colours
    # to the other tokens keeps the links between words visible (the first column saturates).
    rest = max((w for row in weights[1:] for w in row[1:]), default=1.0)
    top = 1.0 if n < 3 else min(1.0, max(0.05, rest))
    image = ax.imshow(weights, cmap="Blues", vmin=0.0, vmax=top, interpolation="nearest")
    ax.set_xticks(range(n), labels=labels, rotation=90, fontsize=font)
    ax.set_yticks(range(n), labels=labels, fontsize=font)
    ax.set_xlabel("attends to (earlier tokens)")
    ax.set_ylabel("token")
    label = "attention weight" + (" (first column off the scale)" if top < 1.0 else "")
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.03, label=label)
    return _finish(fig, ax, title)


PALETTE = ["#5865F2", "#ED4245", "#57F287", "#FAA61A", "#EB459E", "#3BA55C", "#9B59B6", "#1ABC9C"]


def embedding_map(points: list[tuple[str, float, float, str, bool]], title: str) -> bytes:
    """Words (large) and their nearest tokens (small) on the first two principal components;
    each word and its neighbours share a colour."""
    fig, ax = plt.subplots(figsize=(6.8, 5.6), dpi=110)
    words = list(dict.fromkeys(point[3] for point in points))
    for label, x, y, word, is_word in points:
        colour = PALETTE[words.index(word) % len(PALETTE)]
        ax.scatter([x], [y], s=90 if is_word else 22, color=colour, alpha=1.0 if is_word else 0.7)
        ax.annotate(
            label,
            (x, y),
            xytext=(4, 3),
            textcoords="offset points",
            fontsize=11 if is_word else 8,
            fontweight="bold" if is_word else "normal",
            color=colour if is_word else "#333333",
        )
    ax.set_xlabel("principal component 1")
    ax.set_ylabel("principal component 2")
    return _finish(fig, ax, title)


def train_step_chart(
    losses: list[float], labels: list[str], before: list[float], after: list[float], title: str
) -> bytes:
    """Left: the sentence's loss before and after each step. Right: each token's probability
    before training and after the last step."""
    n = len(labels)
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(9.6, max(3.2, 1.0 + 0.3 * n)), dpi=110, width_ratios=[1, 1.3]
    )
    left.plot(range(len(losses)), losses, color=BAR_COLOUR, marker="o")
    left.xaxis.set_major_locator(MaxNLocator(integer=True))
    left.set_xlabel("gradient steps")
    left.set_ylabel("loss of the sentence")
    left.spines[["top", "right"]].set_visible(False)
    positions = list(range(n))[::-1]
    height = 0.4
    right.barh([p + height / 2 for p in positions], before, height, color="#B9BBBE", label="before")
    right.barh([p - height / 2 for p in positions], after, height, color=BAR_COLOUR, label="after")
    right.set_yticks(positions, labels=labels, fontsize=9 if n > 20 else 10)
    right.set_xlim(0, 1)
    right.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    right.set_xlabel("probability of the token")
    right.legend(loc="lower right", fontsize=9)
    return _finish(fig, right, title)


def sampler_stages_chart(
    labels: list[str],
    stages: list[str],
    kept: list[int],
    probabilities: list[list[float]],
    drawn: int,
) -> bytes:
    """One panel per stage of Random Sampling, side by side, the same tokens in the same rows:
    how each stage reshapes the distribution. `probabilities[s][t]` is token t after stage s;
    a removed token's row is marked ×; row `drawn` is the token drawn from the last stage."""
    n = len(labels)
    fig, axes = plt.subplots(
        1, len(stages), figsize=(2.3 * len(stages) + 1.2, 1.3 + 0.34 * n), dpi=110, sharey=True
    )
    positions = list(range(n))[::-1]
    top = max((p for stage in probabilities for p in stage), default=0.0) or 1.0
    for index, ax in enumerate(axes):
        values = probabilities[index]
        ax.barh(positions, values, color=PALETTE[index % len(PALETTE)])
        for y, p in zip(positions, values, strict=True):
            ax.text(
                p + top * 0.02 if p else top * 0.02,
                y,
                f"{p:.0%}" if p >= 0.005 else ("<1%" if p else "×"),
                va="center",
                fontsize=8,
                color="#333333" if p else "#ED4245",
            )
        ax.set_xlim(0, top * 1.35)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.set_title(f"{stages[index]}\n{kept[index]:,} tokens left", fontsize=9, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
    last, y = axes[-1], positions[drawn]
    last.text(probabilities[-1][drawn] + top * 0.22, y, "◀ drawn", va="center", fontsize=8)
    axes[0].set_yticks(positions, labels=labels, fontsize=10)
    for tick in axes[0].get_yticklabels():
        if tick.get_text() == labels[drawn]:
            tick.set_fontweight("bold")
    fig.supxlabel("probability of the next token", fontsize=9)
    return _finish(fig, axes[0], "")
