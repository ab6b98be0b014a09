"""The reply for /beamtree: beam search step by step, as a tree picture and as text.

The picture (`bot.charts.beam_tree_figure`) and the text list the same things: at each step
the continuations beam search weighed, which it kept as beams, which ended as finished
hypotheses and which it dropped, and the path of the hypothesis it returned. The text is
there for screen readers and for reading the scores exactly.
"""

from __future__ import annotations

import discord

from bot.charts import TreeNode
from bot.formatting import clip, safe, usage_footer
from model_runner.protocol import BeamCandidate, BeamTraceResult

CHART = "beamtree.png"
COLOUR = discord.Colour.from_rgb(88, 101, 242)
EMBED_BUDGET = 5600  # characters of the embed in all (Discord allows 6,000)
FIELD_LIMIT = 1024
BEAM_CHARS = 40  # the end of a beam's text shown in the list
FATE_NAMES = {"kept": "Kept", "finished": "Ended", "dropped": "Dropped"}

Place = tuple[int, int]  # (0-based step, index among that step's candidates)


def parent_index(result: BeamTraceResult, step: int, candidate: BeamCandidate) -> int:
    """Where the beam a candidate extends sits among the step before's candidates (0 at the
    first step: the prompt)."""
    if step == 0:
        return 0
    before = result.steps[step - 1].candidates
    return next(i for i, c in enumerate(before) if c.fate == "kept" and c.beam == candidate.parent)


def lineage(result: BeamTraceResult, place: Place) -> list[Place]:
    """The candidates from the first step to `place` that make up its sequence."""
    step, index = place
    path = [place]
    while step > 0:
        index = parent_index(result, step, result.steps[step].candidates[index])
        step -= 1
        path.append((step, index))
    return path[::-1]


def winner_path(result: BeamTraceResult) -> set[Place]:
    """Every candidate on the winning hypothesis's path."""
    winner = result.winner
    return set(lineage(result, (winner.step - 1, winner.index)))


def tree_columns(result: BeamTraceResult) -> list[list[TreeNode]]:
    """The picture's columns: one per step, every candidate in the runner's order."""
    path = winner_path(result)
    return [
        [
            TreeNode(
                label=c.display,
                score=c.score,
                fate=c.fate,
                parent=parent_index(result, s, c),
                winner=(s, i) in path,
                final=c.final_score,
            )
            for i, c in enumerate(step.candidates)
        ]
        for s, step in enumerate(result.steps)
    ]


def prompt_tail(prompt: str, limit: int = 18) -> str:
    """The end of the prompt, which the tree grows from."""
    flat = " ".join(prompt.split())
    return flat if len(flat) <= limit else "…" + flat[-(limit - 1) :].lstrip()


def beam_text(result: BeamTraceResult, place: Place) -> str:
    """A candidate's whole continuation so far, quoted (its end, when long)."""
    text = "".join(result.steps[s].candidates[i].text for s, i in lineage(result, place))
    text = " ".join(text.split())
    if len(text) > BEAM_CHARS:
        text = "…" + text[-(BEAM_CHARS - 1) :]
    return f"“{safe(text)}”" if text else "“”"


def step_lines(result: BeamTraceResult, step: int) -> str:
    """One step as text: the kept beams, the hypotheses that ended, the ones dropped."""
    candidates = result.steps[step].candidates
    lines = []
    for fate, name in FATE_NAMES.items():
        entries = []
        for index, candidate in enumerate(candidates):
            if candidate.fate != fate:
                continue
            entry = f"{beam_text(result, (step, index))} {candidate.score:.2f}"
            if candidate.final_score is not None:
                entry += f" (ranked {candidate.final_score:.2f})"
            entries.append(entry)
        if entries:
            lines.append(f"{name}: " + ", ".join(entries))
    return "\n".join(lines)


def look_ahead(result: BeamTraceResult) -> str:
    """What the search's look-ahead changed: whether the winner began with the likeliest
    first token, or a less likely one whose continuations were likelier."""
    first = result.steps[0].candidates
    start = first[lineage(result, (result.winner.step - 1, result.winner.index))[0][1]]
    rank = first.index(start) + 1
    if rank == 1:
        return (
            f"The winner begins with the likeliest first token, `{safe(start.display)}`, "
            "Greedy's first token too."
        )
    return (
        f"The winner begins with `{safe(start.display)}`, only the {_ordinal(rank)} likeliest "
        f"first token: a likelier start (`{safe(first[0].display)}`) led to less likely "
        "continuations, so looking ahead, beam search let it go."
    )


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def summary(result: BeamTraceResult) -> str:
    """The prompt, the winner and its score, and why the search stopped."""
    winner = result.winner
    beams = result.params.get("num_beams", 5)
    prompt, _ = clip(result.prompt, 300)
    text, _ = clip(winner.text.strip(), 300)
    stopped = (
        "It stopped at the length limit."
        if result.stopped == "max_new_tokens"
        else "It stopped early: no running beam could beat the finished hypotheses any more."
    )
    tokens = len(winner.token_ids)
    return (
        f"**{safe(prompt)}** → **{safe(text) or '(no new text)'}**\n"
        f"At each step beam search extended every one of its {beams} beams by every token "
        f"and kept the {beams} continuations with the highest score: the summed "
        "log-probability of their tokens (0 is certain; more negative is less likely). "
        f"The winner scored {winner.log_probability:.2f} over {tokens} token"
        f"{'s' if tokens != 1 else ''}, ranked by {winner.score:.2f} per "
        f"{'token' if result.params.get('length_penalty', 1.0) == 1.0 else 'length unit'}. "
        f"{stopped}\n{look_ahead(result)}"
    )


def step_fields(result: BeamTraceResult, room: int) -> list[tuple[str, str]]:
    """One (name, text) per step, each clipped so that all fit in `room` characters."""
    count = max(1, len(result.steps))
    each = min(FIELD_LIMIT, room // count - 12)
    return [
        (f"Step {n}", clip(step_lines(result, n - 1), each)[0] or "nothing to show")
        for n in range(1, len(result.steps) + 1)
    ]


def alt_text(result: BeamTraceResult) -> str:
    """The picture described in one line (the attachment's description for screen readers)."""
    beams = result.params.get("num_beams", 5)
    return clip(
        f"Beam search tree, {len(result.steps)} steps of {beams} beams, from "
        f"'{prompt_tail(result.prompt)}': kept, ended and dropped continuations with their "
        f"scores; the winner's path in bold: '{' '.join(result.winner.text.split())}'. "
        "The same steps are listed as text in the message.",
        1000,
    )[0]


def tree_embed(result: BeamTraceResult, note: str = "") -> discord.Embed:
    """The summary, then one field per step, the picture below; `note` goes in the footer."""
    beams = result.params.get("num_beams", 5)
    embed = discord.Embed(
        title=f"{beams}-beam search, step by step",
        description=summary(result),
        colour=COLOUR,
    )
    footer = usage_footer(result.model, result.compute_ms, result.energy_wh, result.queue_ms)
    footer = f"{footer}\n{note}" if note else footer
    room = EMBED_BUDGET - len(embed.title or "") - len(embed.description or "") - len(footer)
    for name, value in step_fields(result, room):
        embed.add_field(name=name, value=value, inline=False)
    embed.set_image(url=f"attachment://{CHART}")
    embed.set_footer(text=footer)
    return embed
