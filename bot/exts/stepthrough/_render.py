"""The step-through's message: the text so far, why the last token was chosen, the path.

Everything the message shows comes from the stored step-through, so it is drawn the same
way after a restart. A method's reasons are shown once the instructor has revealed that
method (/lab reveal), as /explain and /sampler do: until then a group sees what it picked
and guesses why.
"""

from __future__ import annotations

import discord

from bot.formatting import clip, safe
from bot.storage.step_throughs import StepThrough, StepToken
from model_runner.protocol import StepPick

COLOUR = discord.Colour.from_rgb(88, 166, 255)
METHODS = {  # the lab's names, in the order of the buttons
    "greedy": "Greedy",
    "sampling": "Random Sampling",
    "contrastive": "Contrastive Search",
}
END_OF_TEXT = "⏎ end of text"
PATH_SHOWN = 12  # tokens of the path on the message; the export has every one
PROMPT_LIMIT = 700  # characters of the prompt's end shown (the export has it whole)
TEXT_LIMIT = 2000  # the prompt and continuation shown, within a description's 4,096
ENDINGS = {
    "end": "Ended with End.",
    "eos": f"The text ended: {END_OF_TEXT} was chosen.",
    "limit": "That was the last step: {steps} tokens is as far as a step-through goes.",
}


def percent(p: float) -> str:
    """A probability as a percentage, small ones still readable."""
    return f"{p:.1%}" if p >= 0.001 else "<0.1%"


def code(text: str) -> str:
    """A token as inline code (a backtick in it cannot end the code early)."""
    return "`" + text.replace("`", "ˋ") + "`"


def shown(display: str, token_id: int, end_of_text: int | None) -> str:
    """A token as the message and its buttons show it: the end of text by name."""
    return END_OF_TEXT if token_id == end_of_text else display


def owner(step: StepThrough) -> str:
    """Whose step-through it is, as the message says it."""
    if step.group_name:
        return safe(step.group_name)
    return f"<@{step.started_by}>" if step.started_by else "a former member"


def chooser(token: StepToken) -> str:
    """Who chose a token: a member's name then, or the method."""
    if token.chosen_by == "member":
        return token.user_name or "a former member"
    return METHODS.get(token.chosen_by, token.chosen_by)


def _ordinal(n: int) -> str:
    return {1: "likeliest", 2: "2nd likeliest", 3: "3rd likeliest"}.get(n, f"{n}th likeliest")


def explain(token: StepToken, end_of_text: int | None, revealed: set[str]) -> str:
    """Why the last token was chosen, in the chooser's own terms."""
    label = code(shown(token.display, token.token_id, end_of_text))
    if token.chosen_by == "member":
        rank = token.reason.get("rank")
        which = f", the {_ordinal(rank)} candidate" if isinstance(rank, int) else ""
        return f"**{safe(chooser(token))}** chose {label} ({percent(token.probability)}){which}."
    name = METHODS.get(token.chosen_by, token.chosen_by)
    if token.chosen_by not in revealed:
        return (
            f"**{name}** chose {label} ({percent(token.probability)}). Why this one? Guess "
            f"from the candidates' probabilities: the reason shows here once your instructor "
            f"reveals {name} (/lab reveal)."
        )
    pick = StepPick.from_dict(token.reason)
    if token.chosen_by == "greedy":
        return (
            f"**Greedy** took {label}: the model gives it the highest probability of any "
            f"token ({percent(token.probability)}). Greedy always takes that one, so the same "
            "text always goes on the same way."
        )
    if token.chosen_by == "sampling":
        settings = pick.params
        drawn = pick.drawn_probability if pick.drawn_probability is not None else 0.0
        return (
            f"**Random Sampling** drew {label} at random with seed {pick.seed}: after "
            f"temperature {settings.get('temperature', 1):g}, top-k {settings.get('top_k')} "
            f"and top-p {settings.get('top_p', 1):g} its probability was {percent(drawn)} (the "
            f"model's own: {percent(token.probability)}). Likely tokens are drawn often, "
            "unlikely ones sometimes; the same seed draws the same token."
        )
    return contrastive_reason(pick, label, end_of_text)


def contrastive_reason(pick: StepPick, label: str, end_of_text: int | None) -> str:
    """Each candidate's probability, penalty and score, the winner marked."""
    alpha = pick.penalty_alpha if pick.penalty_alpha is not None else 0.0
    rows = [(shown(c.display, c.id, end_of_text), c) for c in pick.scored]
    width = min(14, max(5, *(len(name) for name, _ in rows)))
    lines = [f"{'token':<{width}} {'p':>6} {'penalty':>7} {'score':>8}"]
    for name, c in rows:
        mark = " ◀" if c.id == pick.token.id else ""
        lines.append(
            f"{name.replace('`', 'ˋ')[:width]:<{width}} {c.probability:>6.4f} "
            f"{c.penalty:>7.3f} {c.score:>+8.4f}{mark}"
        )
    table = "```\n" + "\n".join(lines) + "\n```"
    return (
        f"**Contrastive Search** weighed its {len(rows)} likeliest candidates: "
        f"score = (1 − {alpha:g}) × p − {alpha:g} × penalty, where p is the model's "
        "probability and the penalty the candidate's highest cosine similarity to a token "
        f"already in the text (prompt included). {label} has the best score.\n{table}"
    )


def path_lines(step: StepThrough) -> str:
    """The latest tokens, each with who chose it and its probability."""
    lines = [
        f"{t.position}. {code(shown(t.display, t.token_id, step.end_of_text))} · "
        f"{safe(chooser(t))} · {percent(t.probability)}"
        for t in step.tokens[-PATH_SHOWN:]
    ]
    earlier = len(step.tokens) - PATH_SHOWN
    if earlier > 0:
        lines.insert(0, f"… {earlier} earlier (Export path has them all)")
    return "\n".join(lines)


def step_embed(step: StepThrough, revealed: set[str], usage: str = "") -> discord.Embed:
    """The message of a step-through as it stands."""
    # The prompt's end, which the continuation follows; cut before escaping (escapes at most
    # double it), so both fit a description.
    tail = step.prompt[-PROMPT_LIMIT:]
    prompt = ("…" if len(tail) < len(step.prompt) else "") + safe(tail)
    body, _ = clip(safe(step.text), max(TEXT_LIMIT - len(prompt), TEXT_LIMIT // 2))
    cursor = "" if step.ended else " ▏"
    embed = discord.Embed(
        title=f"Step-through · {step.model_label}",
        description=f"**{prompt}**{body}{cursor}",
        colour=COLOUR,
    )
    if step.tokens:
        last = step.tokens[-1]
        reason = explain(last, step.end_of_text, revealed)
        embed.add_field(name=f"Token {last.position}", value=reason[:1024], inline=False)
    if step.ended:
        ending = ENDINGS[step.ended].format(steps=step.max_steps)
        embed.add_field(
            name="Finished",
            value=f"{ending} Export path gives every token as CSV and Markdown.",
            inline=False,
        )
    else:
        embed.add_field(
            name=f"Token {len(step.tokens) + 1}: your pick",
            value="Press a candidate (each with the model's probability), or let Greedy, "
            "Random Sampling or Contrastive Search pick and see why it chose. "
            f"Only {owner(step)} can press.",
            inline=False,
        )
    if step.tokens:
        embed.add_field(name="Path", value=path_lines(step)[:1024], inline=False)
    footer = f"{len(step.tokens)} of {step.max_steps} tokens"
    embed.set_footer(text=f"{footer} · {usage}" if usage else footer)
    return embed
