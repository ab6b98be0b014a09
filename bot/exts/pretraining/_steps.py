"""Replies for /attention, /embedding and /trainstep: the pre-training steps the lab names
(embedding, attention, backpropagation) shown on a group's own words, as text and a chart."""

from __future__ import annotations

import discord

from bot.exts.pretraining._render import COLOUR, _code_block, _percent, _tsv
from bot.formatting import clip, safe, usage_footer
from model_runner.protocol import AttentionResult, EmbeddingResult, TrainStepResult


def _cell(display: str, width: int = 12) -> str:
    """A token's readable form padded (or cut) for a fixed-width table."""
    shown = display if len(display) <= width else display[: width - 1] + "…"
    return shown.ljust(width)


# An earlier word "wins" a token's attention only with at least this share of its row, and
# clearly more than the others (this many times their mean); otherwise the text says the
# attention is spread out rather than name a token that got 1%.
CLEAR_SHARE = 0.05
CLEAR_LEAD = 1.25


def strongest_earlier(weights: list[list[float]], i: int) -> int | None:
    """The earlier token (not the first, where spare weight parks, nor itself) that token `i`
    weighs most, or None when there is none."""
    earlier = range(1, i)
    return max(earlier, key=lambda j: weights[i][j]) if earlier else None


def stands_out(weights: list[list[float]], i: int, j: int) -> bool:
    """Whether earlier token `j` clearly gets the most of token `i`'s attention: a real share
    of it, and well ahead of the other earlier tokens (not a near-even split)."""
    candidates = [weights[i][k] for k in range(1, i)]
    top = weights[i][j]
    if top < CLEAR_SHARE:
        return False
    mean = sum(candidates) / len(candidates)
    return len(candidates) == 1 or top >= CLEAR_LEAD * mean


def attends_to_text(result: AttentionResult, i: int) -> str:
    """What the table says token `i` looks at most: an earlier word and its weight, `-` when
    there is no earlier word, or that its attention is spread out."""
    j = strongest_earlier(result.weights, i)
    if j is None:
        return "-"
    weight = result.weights[i][j]
    if stands_out(result.weights, i, j):
        return f"{_cell(result.tokens[j].display, 14)} {weight:6.0%}"
    if weight < CLEAR_SHARE:
        return f"spread out (no earlier word over {CLEAR_SHARE:.0%})"
    return "spread out (about evenly)"


def attention_reply(result: AttentionResult) -> tuple[discord.Embed, list[discord.File]]:
    """Which earlier token each token weighs most; the heatmap is attached as attention.png."""
    which = f"head {result.head} of {result.heads}" if result.head else f"all {result.heads} heads"
    rows = [f"{'token':<12}  attends most to   weight"]
    for i, token in enumerate(result.tokens[1:], start=1):
        rows.append(f"{_cell(token.display)}→ {attends_to_text(result, i)}")
    block, cut = _code_block(rows, 2600)
    embed = discord.Embed(
        title=f"Attention in layer {result.layer} of {result.layers} ({which})",
        description=block,
        colour=COLOUR,
    )
    embed.add_field(
        name="Reading it",
        value="Each row of the heatmap is a token; its colours show how much weight it gives "
        "each earlier token when the model builds its next prediction (a row adds up to 100%). "
        "A token never looks ahead. Many heads park spare weight on the first token "
        f"({result.tokens[0].display}) or on the token itself, so the list names the earlier "
        "word each token looks at most, or says its attention is spread out when no earlier "
        "word stands out. Try other layers and heads: each one learned to look for something "
        "different.",
        inline=False,
    )
    embed.set_image(url="attachment://attention.png")
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    files = []
    if cut:
        header = ["token", *(t.display for t in result.tokens)]
        table = [
            [t.display, *(f"{w:.4f}" for w in row)]
            for t, row in zip(result.tokens, result.weights, strict=True)
        ]
        files.append(_tsv("attention.tsv", header, table))
    return embed, files


def embedding_reply(result: EmbeddingResult) -> discord.Embed:
    """Each word's nearest tokens; the PCA picture is attached as embedding.png."""
    embed = discord.Embed(
        title="Nearest tokens in the model's embedding space",
        colour=COLOUR,
    )
    for word in result.words:
        pieces = " + ".join(f"`{t.display}`" for t in word.tokens)
        near = ", ".join(f"`{n.display}` {n.similarity:.2f}" for n in word.neighbours)
        name, _ = clip(word.word, 200)
        embed.add_field(
            name=safe(name),
            value=clip(f"{pieces}\n{near}", 1000)[0].replace("@", "@\u200b"),
            inline=False,
        )
    embed.add_field(
        name="Reading it",
        value="Before attention, every token becomes a vector of numbers (its embedding). "
        "Tokens used in similar ways end up pointing in similar directions: the number is "
        "the cosine similarity (1 = same direction). A word of several tokens uses the mean "
        "of their vectors. The picture squeezes the vectors onto their two main directions "
        f"(PCA, {sum(result.explained):.0%} of the spread), so distances there are rough.",
        inline=False,
    )
    embed.set_image(url="attachment://embedding.png")
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    return embed


def rising_steps(losses: list[float]) -> list[int]:
    """The steps (1 = the first) after which the loss was higher than before them."""
    return [step for step in range(1, len(losses)) if losses[step] > losses[step - 1]]


def overshoot_note(result: TrainStepResult) -> tuple[str, str] | None:
    """Why the loss went up, when it did on some step: the step overshot the minimum."""
    rose = rising_steps(result.losses)
    if not rose:
        return None
    which = ", ".join(str(step) for step in rose)
    name = f"Why the loss went up at step{'s' if len(rose) > 1 else ''} {which}"
    worse = sum(1 for t in result.tokens if t.probabilities[-1] < t.probabilities[0])
    fell = (
        f" and {worse} token{'s' if worse != 1 else ''} ended less likely than before"
        if worse
        else ""
    )
    value = (
        "Overshooting: a step goes downhill as far as the learning rate says, and when that is "
        "too far for how steep the loss is there, it jumps past the lowest point and lands "
        f"higher up the other side. So the loss rose{fell}. Gradient descent only promises "
        "the right direction, not that each step lands lower. Try a smaller learning_rate "
        f"(for example {result.learning_rate / 5:g}) for a steadier descent, or more steps "
        "to see whether it settles back down."
    )
    return name, value


def train_step_reply(result: TrainStepResult) -> tuple[discord.Embed, list[discord.File]]:
    """The loss step by step and each token's probability before and after."""
    losses = " → ".join(f"{loss:.2f}" for loss in result.losses)
    rows = [f"{'token':<12} {'before':>7} {'after':>7}"]
    for token in result.tokens:
        before, after = token.probabilities[0], token.probabilities[-1]
        arrow = "▲" if after > before else "▼" if after < before else " "
        rows.append(f"{_cell(token.display)} {_percent(before):>7} {_percent(after):>7} {arrow}")
    block, cut = _code_block(rows, 2400)
    embed = discord.Embed(
        title=f"Loss {result.losses[0]:.2f} → {result.losses[-1]:.2f} after "
        f"{result.steps} step{'s' if result.steps != 1 else ''}",
        description=f"**Loss at each step:** {losses}\n{block}",
        colour=COLOUR,
    )
    embed.add_field(
        name="Reading it",
        value="This is backpropagation: the loss says how surprised the model was by your "
        "sentence, and each gradient step moves the weights downhill, in the direction that "
        "makes the same tokens more likely; the learning rate "
        f"({result.learning_rate:g}) sets how far. It ran on a throwaway copy "
        f"(a rank-{result.rank} LoRA adapter), then was thrown away: the model the class "
        "uses is unchanged, just as a model's weights stay frozen once training ends.",
        inline=False,
    )
    overshoot = overshoot_note(result)
    if overshoot:
        embed.add_field(name=overshoot[0], value=overshoot[1], inline=False)
    embed.set_image(url="attachment://trainstep.png")
    embed.set_footer(text=usage_footer(result.model, result.compute_ms, result.energy_wh))
    files = []
    if cut:
        header = ["token", *(f"p after {n} steps" for n in range(result.steps + 1))]
        table = [[t.display, *(f"{p:.6f}" for p in t.probabilities)] for t in result.tokens]
        files.append(_tsv("trainstep.tsv", header, table))
    return embed, files
