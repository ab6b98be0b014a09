"""Charts as PNG images for Discord (matplotlib, off-screen).

Drawing takes tens of milliseconds of CPU, so callers run these functions in a thread
(`asyncio.to_thread`), never on the event loop.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # no display; must precede pyplot
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import PercentFormatter  # noqa: E402

BAR_COLOUR = "#5865F2"


def probability_bars(labels: list[str], probabilities: list[float], title: str) -> bytes:
    """Horizontal bars, most likely at the top, each labelled with its percentage."""
    height = 1.2 + 0.42 * len(labels)
    fig, ax = plt.subplots(figsize=(6.4, height), dpi=110)
    try:
        positions = range(len(labels))[::-1]
        ax.barh(list(positions), probabilities, color=BAR_COLOUR)
        ax.set_yticks(list(positions), labels=labels, fontsize=11)
        top = max(probabilities, default=0.0) or 1.0
        for y, p in zip(positions, probabilities, strict=True):
            ax.text(p + top * 0.01, y, f"{p:.1%}", va="center", fontsize=10)
        ax.set_xlim(0, top * 1.18)
        ax.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        ax.set_xlabel("probability")
        ax.set_title(title, fontsize=11, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)


def loss_curve(losses: list[float], title: str) -> bytes:
    """Training loss per step: the line should go down as the model learns the pool."""
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=110)
    try:
        ax.plot(
            range(1, len(losses) + 1),
            losses,
            color=BAR_COLOUR,
            marker="o" if len(losses) < 30 else None,
        )
        ax.set_xlabel("training step")
        ax.set_ylabel("loss")
        ax.set_title(title, fontsize=11, loc="left")
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        out = io.BytesIO()
        fig.savefig(out, format="png")
        return out.getvalue()
    finally:
        plt.close(fig)
