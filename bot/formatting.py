"""Text shared by the features' replies: safe model text, clipping, counts and sizes, the
usage footer, the class's model by name."""

from __future__ import annotations

from pathlib import PurePosixPath

import discord

ZERO_WIDTH = "\u200b"


def safe(text: str) -> str:
    """Model or user text shown as it is: no markdown effects, no mention that could ping.

    `allowed_mentions` already stops every ping; breaking up `@` keeps the text from even
    looking like a mention, and escaping markdown keeps `**` or `#` from restyling the reply.
    """
    text = discord.utils.escape_markdown(text)
    return text.replace("@", "@" + ZERO_WIDTH)


def counted(n: object, word: str, plural: str | None = None) -> str:
    """`1 epoch`, `3 epochs`: a count with its noun in the right number (`plural` where
    adding an s is wrong: `counted(2, "run you started", "runs you started")`)."""
    return f"{n} {word}" if n == 1 else f"{n} {plural or word + 's'}"


def clip(text: str, limit: int) -> tuple[str, bool]:
    """`text` cut to at most `limit` characters at a word boundary, with an ellipsis."""
    if len(text) <= limit:
        return text, False
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit * 0.6:
        cut = cut[:space]
    return cut.rstrip() + "…", True


def energy(wh: float) -> str:
    """Wh in a readable unit."""
    if wh >= 1:
        return f"{wh:.2f} Wh"
    if wh >= 0.001:
        return f"{wh * 1000:.2f} mWh"
    return f"{wh * 1_000_000:.1f} µWh"


def file_size(n: int) -> str:
    """A size in bytes as people read it: `812 bytes`, `4.1 kB`, `195 kB`, `10.5 MB` (powers
    of 1,000, as Discord and most systems print them)."""
    if n < 1000:
        return counted(n, "byte")
    value = float(n)
    for unit in ("kB", "MB", "GB"):
        value /= 1000
        shown = f"{value:.1f}" if value < 9.95 else f"{value:.0f}"
        if float(shown) < 1000 or unit == "GB":
            return f"{shown} {unit}"
    raise AssertionError("unreachable")


def usage_footer(model: str, compute_ms: float, energy_wh: float, queue_ms: float = 0) -> str:
    """`model · 1.2 s · 0.31 mWh` (and the wait, when there was one)."""
    parts = [model, f"{compute_ms / 1000:.1f} s"]
    if queue_ms >= 500:
        parts.append(f"waited {queue_ms / 1000:.1f} s")
    parts.append(energy(energy_wh))
    return " · ".join(parts)


# What the lab's texts call the models the runner knows by a Hub id or a preset name.
MODEL_NAMES = {
    "openai-community/gpt2": "GPT-2",
    "gpt2": "GPT-2",
    "gemma-offline": "Gemma 3 270M",
    "google/gemma-3-270m": "Gemma 3 270M",
    "tiny": "the random-weight test model tiny",
}


def model_name(configured: str) -> str:
    """The model as a text names it: `GPT-2` for `openai-community/gpt2`, `Gemma 3 270M` for
    `gemma-offline`; another Hub id as it is, a local folder or file by its own name."""
    configured = configured.strip()
    if configured in MODEL_NAMES:
        return MODEL_NAMES[configured]
    if configured.startswith(("/", ".", "~")) or configured.endswith(".gguf"):
        return PurePosixPath(configured).name or configured
    return configured or "the class's model"


def quoted(text: str, limit: int = 60) -> str:
    """User input quoted back in a reply: one line, clipped to `limit`, made safe."""
    return f'"{safe(clip(" ".join(text.split()), limit)[0])}"'


def for_log(text: str, limit: int = 80) -> str:
    """A student's text as a log line may show it: one line, clipped, with its length."""
    flat = " ".join(text.split())
    short, clipped = clip(flat, limit)
    return f"{short!r} ({len(text)} chars)" if clipped else repr(short)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """A CSV cell that a spreadsheet cannot run as a formula (OWASP CSV injection): text
    starting with = + - @, a tab or a carriage return gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value
