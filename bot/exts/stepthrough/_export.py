"""A step-through's path as files: CSV for a spreadsheet, Markdown for the group's notes."""

from __future__ import annotations

import csv
import io

import discord

from bot.exts.stepthrough._render import METHODS, chooser, percent, shown
from bot.formatting import csv_cell
from bot.storage.step_throughs import StepThrough, StepToken
from model_runner.protocol import StepPick

COLUMNS = [
    "Step",
    "Token",
    "Text",
    "Token id",
    "Chosen by",
    "Pressed by",
    "Probability",
    "Why",
    "Seed",
    "Penalty",
    "Score",
]
TEXT_COLUMNS = {1, 2, 4, 5, 7}  # Token, Text, Chosen by, Pressed by, Why
HIDDEN = "shown once the instructor reveals it"


def why(token: StepToken, revealed: set[str]) -> str:
    """The reason for a token in a few words (a method's only once it is revealed)."""
    if token.chosen_by == "member":
        rank = token.reason.get("rank")
        return f"picked by a member (candidate {rank})" if rank else "picked by a member"
    if token.chosen_by not in revealed:
        return HIDDEN
    pick = StepPick.from_dict(token.reason)
    if token.chosen_by == "greedy":
        return "the highest probability"
    if token.chosen_by == "sampling":
        drawn = pick.drawn_probability or 0.0
        settings = pick.params
        return (
            f"drawn with seed {pick.seed}: {percent(drawn)} after temperature "
            f"{settings.get('temperature', 1):g}, top-k {settings.get('top_k')}, top-p "
            f"{settings.get('top_p', 1):g}"
        )
    alpha = pick.penalty_alpha or 0.0
    return (
        f"the best score of {len(pick.scored)} candidates: (1 - {alpha:g}) x p - "
        f"{alpha:g} x penalty"
    )


def _numbers(token: StepToken, revealed: set[str]) -> tuple[str, str, str]:
    """Seed, penalty and score, where the method has them and is revealed."""
    if token.chosen_by not in revealed or token.chosen_by == "member":
        return "", "", ""
    pick = StepPick.from_dict(token.reason)
    if token.chosen_by == "sampling":
        return str(pick.seed), "", ""
    winner = next((c for c in pick.scored if c.id == token.token_id), None)
    if winner is None:
        return "", "", ""
    return "", f"{winner.penalty:.4f}", f"{winner.score:.6f}"


def rows(step: StepThrough, revealed: set[str]) -> list[list[str]]:
    """One row per token of the path, in COLUMNS order."""
    out = []
    for token in step.tokens:
        seed, penalty, score = _numbers(token, revealed)
        out.append(
            [
                str(token.position),
                shown(token.display, token.token_id, step.end_of_text),
                token.text,
                str(token.token_id),
                chooser(token),
                token.user_name or "",
                f"{token.probability:.6f}",
                why(token, revealed),
                seed,
                penalty,
                score,
            ]
        )
    return out


def to_csv(step: StepThrough, revealed: set[str]) -> str:
    """The path as CSV, one row per token (cells safe to open in a spreadsheet)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows(step, revealed):
        # Text cells are guarded against spreadsheet formulas; the numbers are the bot's own.
        writer.writerow([csv_cell(c) if n in TEXT_COLUMNS else c for n, c in enumerate(row)])
    return buffer.getvalue()


def _cell(text: str) -> str:
    """A Markdown table cell: pipes escaped, one line."""
    return " ".join(text.split()).replace("|", "\\|") or " "


def to_markdown(step: StepThrough, revealed: set[str]) -> str:
    """The prompt, the text built, and the path as a table."""
    whose = step.group_name or "your own"
    lines = [
        f"# Step-through ({whose})",
        "",
        f"- Model: {step.model_label} ({step.model})",
        f"- Prompt: {_cell(step.prompt)}",
        f"- Text built: {_cell(step.text)}",
        f"- Tokens: {len(step.tokens)} of {step.max_steps}",
        f"- Methods: {', '.join(METHODS.values())} (the lab's settings)",
        "",
        "| Step | Token | Chosen by | Pressed by | Probability | Why |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows(step, revealed):
        step_no, token, _, _, chosen, pressed, probability, reason = row[:8]
        cells = [step_no, f"`{token.replace('`', 'ˋ')}`", chosen, pressed, probability, reason]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines) + "\n"


def path_files(step: StepThrough, revealed: set[str]) -> list[discord.File]:
    """The CSV and Markdown files of the path."""
    name = f"step-through-{step.id}"
    return [
        discord.File(io.BytesIO(to_csv(step, revealed).encode()), f"{name}.csv"),
        discord.File(io.BytesIO(to_markdown(step, revealed).encode()), f"{name}.md"),
    ]
