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
