"""The reply for /sampler: Random Sampling one stage at a time, as a table and a chart."""

from __future__ import annotations

import discord

from bot.formatting import clip, safe, usage_footer
from model_runner.protocol import SamplerStagesResult, StageToken

COLOUR = discord.Colour.from_rgb(235, 69, 158)
CHART = "sampler.png"
HEADINGS = ("model", "temp.", "top-k", "top-p")  # the runner's stages, in its order


def _cell(p: float) -> str:
    """A probability in a fixed-width cell; × where the stage removed the token."""
    if p == 0:
        return "    ×"
    return f"{p:>5.1%}" if p >= 0.001 else " <0.1%"


def _row(token: StageToken, width: int) -> str:
    label = token.display.replace("`", "ˋ")[:width]
    return f"{label:<{width}} " + " ".join(_cell(p) for p in token.probabilities)


def replay(result: SamplerStagesResult, temperature: float, top_k: int, top_p: float) -> str:
    """The /generate options that draw the same first token."""
    options = ["method:Random Sampling", f"seed:{result.seed}"]
    if temperature != 1.0:
        options.append(f"temperature:{temperature:g}")
    if top_k != 50:
        options.append(f"top_k:{top_k}")
    if top_p != 1.0:
        options.append(f"top_p:{top_p:g}")
    return "`/generate " + " ".join(options) + "`"


def shown_tokens(result: SamplerStagesResult) -> list[StageToken]:
    """The model's likeliest tokens, and the drawn one last when it is not among them."""
    if any(c.id == result.drawn.id for c in result.candidates):
        return [c if c.id != result.drawn.id else result.drawn for c in result.candidates]
    return [*result.candidates, result.drawn]


def stages_embed(
    result: SamplerStagesResult,
    rows: list[StageToken],
    temperature: float,
    top_k: int,
    top_p: float,
) -> discord.Embed:
    """Each shown token's probability after each stage, what each stage left, the token drawn
    (marked ◀ in the table)."""
    prompt, _ = clip(result.prompt, 300)
    width = min(12, max(5, *(len(c.display) for c in rows)))
    header = f"{'token':<{width}} " + " ".join(f"{name:>5}" for name in HEADINGS)
    lines = [header]
    lines += [_row(c, width) + (" ◀" if c.id == result.drawn.id else "") for c in rows]
    table = "```\n" + "\n".join(lines) + "\n```"
    left = ", ".join(
        f"{name}: {kept:,}" for name, kept in zip(result.stages, result.kept, strict=True)
    )
    embed = discord.Embed(
        title="Random Sampling, one stage at a time",
        description=f"**{safe(prompt)}** …\n{table}",
        colour=COLOUR,
    )
    embed.add_field(name="Tokens that can still be drawn", value=left, inline=False)
    drawn = result.drawn
    embed.add_field(
        name="The token drawn",
        value=f"`{drawn.display.replace('`', 'ˋ')}` with probability "
        f"{drawn.probabilities[-1]:.1%} after the last stage (seed {result.seed}). "
        f"The same first token: {replay(result, temperature, top_k, top_p)} with this prompt.",
        inline=False,
    )
    embed.add_field(
        name="Reading it",
        value="Temperature divides the model's scores: below 1 the likely tokens grow, above "
        "1 the distribution flattens. Top-k keeps only the k likeliest tokens, top-p the "
        "fewest whose probabilities add up to p; after each cut the survivors share the whole "
        "probability again. × marks a token the stage removed. Try temperature 0.7 or top_p "
        "0.9 and compare.",
        inline=False,
    )
    embed.set_image(url=f"attachment://{CHART}")
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    return embed
