"""Replies for /generate and /compare: readable on a phone, full text attached when cut."""

from __future__ import annotations

import io

import discord

from bot.fine_tuned import is_class_aligned
from bot.formatting import clip, safe, usage_footer
from model_runner.protocol import CompareResult, GenerateResult

COLOUR = discord.Colour.from_rgb(87, 242, 135)
METHOD_NAMES = {
    "greedy": "Greedy",
    "beam": "5-Beam",
    "contrastive": "Contrastive Search",
    "sampling": "Random Sampling",
}
FIELD_LIMIT = 1000  # per continuation, so four of them and the prompt stay under 6000
GENERATE_LIMIT = 1500  # a screenful on a phone; the rest goes in the attached .txt
PROMPT_LIMIT = 400


def method_name(method: str, params: dict | None = None) -> str:
    """The lab's name for a method (`5-Beam` only when it has 5 beams)."""
    if method == "beam" and params and params.get("num_beams", 5) != 5:
        return f"{params['num_beams']}-Beam"
    return METHOD_NAMES.get(method, method)


def _continuation(prompt: str, text: str, limit: int) -> tuple[str, bool]:
    """The end of the prompt in bold, then the continuation (clipped)."""
    tail, _ = clip(prompt[::-1], 60)
    tail = tail[::-1].replace("…", "", 1)
    lead = ("…" if len(prompt) > len(tail) else "") + f"**{safe(tail.strip())}**"
    if not text.strip():
        return f"{lead} *(no new text)*", False
    # Clip after escaping: escapes lengthen the text, and the limit is Discord's.
    body, cut = clip(safe(text), limit - len(lead))
    return lead + body, cut


def early_end(result: GenerateResult) -> str:
    """Why a continuation is so short, when the model itself ended the text early."""
    least = int(result.params.get("min_new_tokens") or 0)
    written = len(result.token_ids)
    if result.finish_reason != "eos" or written > least + 3:
        return ""
    tokens = f"{written - 1} token{'s' if written != 2 else ''}"
    if result.adapter and not is_class_aligned(result.adapter):
        return (
            f"🛑 The fine-tuned model ended the text after {tokens}. Every training sentence "
            "ended with the end of text, so fine-tuning taught it that a text ends after a "
            "sentence like this: that is what it learned, not a fault. min_tokens makes it "
            f"write at least that many tokens first (this run: {least})."
        )
    return (
        f"🛑 The model ended the text after {tokens}: it judged the text finished. "
        "min_tokens makes it write at least that many tokens first."
    )


def full_text(prompt: str, results: list[GenerateResult]) -> discord.File:
    """Everything, uncut, as a .txt attachment."""
    lines = [f"Prompt: {prompt}", ""]
    for result in results:
        lines += [f"== {method_name(result.method, result.params)} ==", prompt + result.text, ""]
    return discord.File(io.BytesIO("\n".join(lines).encode()), filename="continuations.txt")


def generate_reply(
    result: GenerateResult, model_label: str = "Pre-trained"
) -> tuple[discord.Embed, list[discord.File]]:
    """One continuation, with the settings and the model that produced it."""
    title = method_name(result.method, result.params)
    if result.adapter:
        title = f"{title} · {model_label}"
    prompt, _ = clip(result.prompt, PROMPT_LIMIT)
    body, cut = _continuation(result.prompt, result.text, GENERATE_LIMIT)
    embed = discord.Embed(title=title, description=body, colour=COLOUR)
    settings = {
        k: v
        for k, v in result.params.items()
        if k in _SHOWN[result.method] and (v or k != "min_new_tokens")
    }
    embed.add_field(
        name="Settings", value=", ".join(f"{k}={v}" for k, v in settings.items()) or "defaults"
    )
    embed.add_field(name="Tokens", value=f"{len(result.token_ids)} ({result.finish_reason})")
    if why := early_end(result):
        embed.add_field(name="Why it stopped", value=why, inline=False)
    embed.set_footer(
        text=usage_footer(result.model, result.compute_ms, result.energy_wh, result.queue_ms)
    )
    files = [full_text(result.prompt, [result])] if cut else []
    return embed, files


_SHOWN = {
    "greedy": ("max_new_tokens", "no_repeat_ngram_size", "min_new_tokens"),
    "beam": (
        "max_new_tokens",
        "num_beams",
        "no_repeat_ngram_size",
        "length_penalty",
        "min_new_tokens",
    ),
    "contrastive": ("max_new_tokens", "penalty_alpha", "top_k", "min_new_tokens"),
    "sampling": ("max_new_tokens", "temperature", "top_k", "top_p", "seed", "min_new_tokens"),
}


def compare_reply(
    result: CompareResult, table_note: str
) -> tuple[discord.Embed, list[discord.File]]:
    """The four methods stacked under the prompt (a row of the group's table)."""
    prompt, _ = clip(result.prompt, PROMPT_LIMIT)
    embed = discord.Embed(
        title="Same prompt, four decoding methods",
        description=f"**{safe(prompt)}**",
        colour=COLOUR,
    )
    any_cut = False
    for item in result.results:
        value, cut = _continuation(result.prompt, item.text, FIELD_LIMIT)
        any_cut |= cut
        embed.add_field(name=method_name(item.method, item.params), value=value, inline=False)
    footer = usage_footer(result.model, result.compute_ms, result.energy_wh, result.queue_ms)
    embed.set_footer(text=f"{footer}\n{table_note}")
    files = [full_text(result.prompt, result.results)] if any_cut else []
    return embed, files


def models_reply(
    prompt: str,
    method: str,
    columns,
    examples: list[str],
    model: str,
    table_note: str,
) -> tuple[discord.Embed, list[discord.File]]:
    """Pre-trained, in-context and fine-tuned continuations stacked under the prompt."""
    shown, _ = clip(prompt, PROMPT_LIMIT)
    embed = discord.Embed(
        title=f"Same prompt, three ways to teach the model ({METHOD_NAMES.get(method, method)})",
        description=f"**{safe(shown)}**",
        colour=COLOUR,
    )
    any_cut = False
    compute_ms = energy_wh = 0.0
    for column in columns:
        if column.result is None:
            embed.add_field(name=column.heading, value=f"*{column.note}*", inline=False)
            continue
        value, cut = _continuation(prompt, column.result.text, FIELD_LIMIT - 400)
        if why := early_end(column.result):
            value += f"\n{why}"
        any_cut |= cut
        compute_ms += column.result.compute_ms
        energy_wh += column.result.energy_wh
        embed.add_field(name=column.heading, value=value, inline=False)
    if examples:
        listed = "\n".join(f"{n}. {safe(clip(e, 150)[0])}" for n, e in enumerate(examples, 1))
        embed.add_field(name="Examples placed before the prompt (in-context)", value=listed[:1024])
    footer = usage_footer(model, compute_ms, energy_wh)
    embed.set_footer(text=f"{footer}\n{table_note}")
    files = []
    if any_cut:
        lines = [f"Prompt: {prompt}", ""]
        for column in columns:
            if column.result is not None:
                lines += [f"== {column.heading} ==", prompt + column.result.text, ""]
        data = "\n".join(lines).encode()
        files.append(discord.File(io.BytesIO(data), filename="continuations.txt"))
    return embed, files
