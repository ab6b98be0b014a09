"""Replies for /nexttoken, /tokens and /loss."""

from __future__ import annotations

import io
from collections.abc import Sequence

import discord

from bot.formatting import clip, safe, usage_footer
from model_runner.protocol import LossResult, NextTokenResult, TokenizeResult

COLOUR = discord.Colour.from_rgb(254, 231, 92)
SURPRISING = 3  # tokens highlighted in /loss


def _code(text: str) -> str:
    """Inline code that survives backticks in the text."""
    return "`" + text.replace("`", "ˋ") + "`"


def _code_block(rows: list[str], limit: int) -> tuple[str, bool]:
    """Rows in a code block, cut at a row boundary to fit `limit` characters."""
    table, cut = clip("\n".join(rows), limit)
    if cut:
        table = table[: table.rfind("\n")] + "\n…"
    return f"```\n{table.replace('```', 'ˋˋˋ')}\n```", cut


def _tsv(filename: str, header: list[str], rows: Sequence[Sequence[object]]) -> discord.File:
    """A tab-separated file of every row, for when the embed shows only some."""
    lines = ["\t".join(header)] + ["\t".join(str(cell) for cell in row) for row in rows]
    return discord.File(io.BytesIO("\n".join(lines).encode()), filename=filename)


def next_token_embed(result: NextTokenResult) -> discord.Embed:
    """The ranked candidates as text; the chart is attached as `nexttoken.png`."""
    prompt, _ = clip(result.prompt, 300)
    lines = [
        f"{rank}. {_code(c.display)} {c.probability:.1%}"
        for rank, c in enumerate(result.candidates, start=1)
    ]
    shown = sum(c.probability for c in result.candidates)
    embed = discord.Embed(
        title=f"What comes next? (temperature {result.temperature:g})",
        description=f"**{safe(prompt)}** …\n\n" + "\n".join(lines),
        colour=COLOUR,
    )
    embed.add_field(
        name="Reading it",
        value=f"These {len(lines)} tokens hold {shown:.0%} of the probability; the other "
        "tokens of the vocabulary share the rest. A lower temperature sharpens the "
        "distribution, a higher one flattens it. ␣ marks a leading space.",
    )
    embed.set_image(url="attachment://nexttoken.png")
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    return embed


def tokens_reply(result: TokenizeResult) -> tuple[discord.Embed, list[discord.File]]:
    """Each token with its id and piece; the full list attached when long."""
    rows = ["    id  piece          shown as"]
    rows += [f"{t.id:>6}  {t.piece:<14} {t.display}" for t in result.tokens]
    block, cut = _code_block(rows, 3600)
    embed = discord.Embed(
        title=f"{len(result.tokens)} tokens for {len(result.text)} characters",
        description=block,
        colour=COLOUR,
    )
    embed.add_field(
        name="Reading it",
        value="The model never sees letters, only these ids. The piece is the tokenizer's "
        "own spelling (Ġ or ▁ marks a leading space, shown as ␣).",
    )
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    rows_out = [[t.id, t.piece, t.display] for t in result.tokens]
    files = [_tsv("tokens.tsv", ["id", "piece", "shown as"], rows_out)] if cut else []
    return embed, files


def _marked(text: str, bold: bool) -> str:
    """A token of the sentence, in bold when it surprised the model (spaces kept outside)."""
    if not bold or not text.strip():
        return safe(text)
    core = text.strip()
    start = text.index(core)
    return f"{text[:start]}**{safe(core)}**{text[start + len(core) :]}"


def _percent(p: float) -> str:
    return "<0.01%" if p < 0.0001 else f"{p:.2%}"


def loss_reply(result: LossResult) -> tuple[discord.Embed, list[discord.File]]:
    """Each token's probability and loss, the most surprising ones in bold."""
    ranked = sorted(range(len(result.tokens)), key=lambda i: -result.tokens[i].loss)
    surprising = set(ranked[:SURPRISING])
    marked = "".join(
        _marked(t.text or t.display, i in surprising) for i, t in enumerate(result.tokens)
    )
    rows = [f"{'p':>7} {'loss':>6}  token"] + [
        f"{_percent(t.probability):>7} {t.loss:6.2f}  {t.display}{'  ◀' if i in surprising else ''}"
        for i, t in enumerate(result.tokens)
    ]
    block, cut = _code_block(rows, 2500)
    embed = discord.Embed(
        title=f"Mean loss {result.mean_loss:.2f} · perplexity {result.perplexity:.1f}",
        description=f"{clip(marked, 900)[0]}\n{block}",
        colour=COLOUR,
    )
    embed.add_field(
        name="Reading it",
        value="p is the probability the model gave each token, knowing the ones before it; "
        "loss = -ln p. Bold (◀) tokens surprised it most. Training lowers the mean loss; "
        "perplexity = e^loss is roughly how many tokens it was torn between.",
    )
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    rows_out = [[t.display, f"{t.probability:.6f}", f"{t.loss:.4f}"] for t in result.tokens]
    files = [_tsv("loss.tsv", ["token", "probability", "loss"], rows_out)] if cut else []
    return embed, files
