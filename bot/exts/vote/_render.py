"""The vote's messages: the blind ballot while open, the reveal once closed, the class's tally.

While a vote is open, nothing in its message (or its attachment) names a method or counts a
letter's votes: only how many students have voted.
"""

from __future__ import annotations

import io

import discord

from bot.exts.vote._tally import MethodResult, leaders, winners
from bot.formatting import clip, counted, safe, usage_footer
from bot.storage.votes import LETTERS, ClassVote
from model_runner.protocol import GenerateResult

COLOUR = discord.Colour.from_rgb(254, 231, 92)
METHOD_NAMES = {  # the lab's names for the four methods
    "greedy": "Greedy",
    "beam": "5-Beam",
    "contrastive": "Contrastive Search",
    "sampling": "Random Sampling",
}
FIELD_LIMIT = 900  # per continuation: four of them and the prompt stay under Discord's 6000
PROMPT_LIMIT = 400
QUESTION = "Which continuation is the most coherent?"


def method_name(method: str) -> str:
    """`Contrastive Search` for `contrastive`."""
    return METHOD_NAMES.get(method, method)


def _continuation(text: str) -> tuple[str, bool]:
    if not text.strip():
        return "*(no new text)*", False
    return clip(safe(text.strip()), FIELD_LIMIT)


def _heading(vote: ClassVote) -> str:
    prompt, _ = clip(vote.prompt, PROMPT_LIMIT)
    source = f"\n*From {safe(vote.source)}.*" if vote.source else ""
    return f"**{safe(prompt)}**{source}"


def voters_line(n: int) -> str:
    """`No votes yet` or `3 students have voted`."""
    if not n:
        return "No votes yet"
    return f"{counted(n, 'student')} {'has' if n == 1 else 'have'} voted"


def open_embed(vote: ClassVote, voters: int) -> discord.Embed:
    """The four continuations under A-D, unlabelled, and how many have voted."""
    embed = discord.Embed(
        title=f"Class vote {vote.number}: {QUESTION.lower()}",
        description=_heading(vote)
        + "\n\nThe same prompt, four decoding methods, in a shuffled order and without their "
        "names. Vote for the most coherent continuation with the buttons; press another "
        "letter to change your vote until the vote closes.",
        colour=COLOUR,
    )
    for letter, method in zip(LETTERS, vote.letters, strict=True):
        value, _ = _continuation(vote.outputs[method])
        embed.add_field(name=letter, value=value, inline=False)
    embed.set_footer(
        text=f"{voters_line(voters)}. Which method wrote which, and the votes, are shown when "
        f"the instructor closes the vote."
        + (f" {vote.max_tokens} new tokens each." if vote.max_tokens else "")
    )
    return embed


def closed_embed(vote: ClassVote) -> discord.Embed:
    """Each letter's method and votes, the winner marked."""
    total = vote.voters
    top = winners(vote.tally)
    if not top:
        verdict = "Nobody voted."
    elif len(top) == 1:
        verdict = f"The class chose **{vote.letter_of(top[0])}: {method_name(top[0])}**."
    else:
        tied = " and ".join(f"{vote.letter_of(m)}: {method_name(m)}" for m in top)
        verdict = f"A tie between **{tied}**."
    embed = discord.Embed(
        title=f"Class vote {vote.number}: the results",
        description=f"{_heading(vote)}\n\n{verdict}",
        colour=COLOUR,
    )
    for letter, method in zip(LETTERS, vote.letters, strict=True):
        votes = vote.tally.get(method, 0)
        share = f" ({votes / total:.0%})" if total else ""
        mark = " 🏆" if method in top else ""
        value, _ = _continuation(vote.outputs[method])
        embed.add_field(
            name=f"{letter}: {method_name(method)} · {counted(votes, 'vote')}{share}{mark}",
            value=value,
            inline=False,
        )
    embed.set_footer(
        text=f"{counted(total, 'vote')}. /vote results: the class's tally over every closed vote."
    )
    return embed


def ballot_file(vote: ClassVote) -> discord.File | None:
    """The continuations uncut under their letters, when the message had to cut one."""
    if not any(_continuation(vote.outputs[m])[1] for m in vote.letters):
        return None
    lines = [f"Prompt: {vote.prompt}", ""]
    for letter, method in zip(LETTERS, vote.letters, strict=True):
        lines += [f"== {letter} ==", vote.prompt + vote.outputs[method], ""]
    data = "\n".join(lines).encode()
    return discord.File(io.BytesIO(data), filename=f"vote-{vote.number}.txt")


def verdict_line(results: list[MethodResult], prompts: int) -> str:
    """The class's answer to Task 3's question, in one sentence."""
    best = leaders(results)
    if not best:
        return "Nobody has voted in a closed vote yet."
    total = sum(r.votes for r in results)
    names = " and ".join(f"**{method_name(r.method)}**" for r in best)
    lead = best[0]
    firsts = f"first on {lead.won} of {counted(prompts, 'prompt')}"
    if lead.shared:
        firsts += f" (and shared first on {lead.shared})"
    each = " each" if len(best) > 1 else ""
    return (
        f"Over {counted(prompts, 'prompt')}, the class found {names} the most coherent most "
        f"consistently: {firsts}{each}, with {lead.votes} of {counted(total, 'vote')}{each}."
    )


def results_embed(results: list[MethodResult], votes: list[ClassVote]) -> discord.Embed:
    """The tally per method over every closed vote, and the prompts one by one."""
    total = sum(r.votes for r in results)
    lines = [
        f"**{method_name(r.method)}**: {counted(r.votes, 'vote')} ({r.share(total):.0%}), "
        f"first on {r.won} of {len(votes)}" + (f", shared first on {r.shared}" if r.shared else "")
        for r in results
    ]
    embed = discord.Embed(
        title=f"The class's votes: {QUESTION.lower()}",
        description=verdict_line(results, len(votes)) + "\n\n" + "\n".join(lines),
        colour=COLOUR,
    )
    prompts = []
    for vote in votes[-10:]:
        top = winners(vote.tally)
        chosen = " / ".join(method_name(m) for m in top) or "no votes"
        prompt, _ = clip(vote.prompt, 80)
        prompts.append(f"{vote.number}. {safe(prompt)} → {chosen} ({counted(vote.voters, 'vote')})")
    if prompts:
        name = "The prompts" if len(votes) <= 10 else "The last 10 prompts"
        embed.add_field(name=name, value="\n".join(prompts)[:1024], inline=False)
    embed.set_footer(text="/vote export: every vote as CSV and Markdown.")
    return embed


def aligned_embed(
    prompt: str,
    method: str,
    base: GenerateResult,
    aligned: GenerateResult,
    name: str,
    pairs: int,
) -> discord.Embed:
    """The pre-trained and the class-aligned continuation of one prompt, stacked."""
    shown, _ = clip(prompt, PROMPT_LIMIT)
    embed = discord.Embed(
        title=f"Same prompt: pre-trained and aligned with the class's votes ({method_name(method)})",
        description=f"**{safe(shown)}**",
        colour=COLOUR,
    )
    embed.add_field(name="Pre-trained", value=_continuation(base.text)[0], inline=False)
    embed.add_field(name=name, value=_continuation(aligned.text)[0], inline=False)
    footer = usage_footer(
        aligned.model,
        base.compute_ms + aligned.compute_ms,
        base.energy_wh + aligned.energy_wh,
    )
    embed.set_footer(
        text=f"{footer}\n{name} learned from {counted(pairs, 'preference pair')} of the "
        "class's votes (DPO)."
    )
    return embed
