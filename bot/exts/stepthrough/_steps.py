"""A step-through's model work and its record: asking the runner, adding a token to the path.

A method's pick is the runner's `StepCandidates` with that method's settings: the lab's
(Contrastive Search with penalty_alpha 0.6 and top_k 4; Random Sampling with temperature 1,
top-k 50, top-p 1 and a fresh seed, said in the reason), so a pick is what /generate's
method would write next. The end of text is never held back here (min_tokens 0): a model
that wants to end the text shows it as a candidate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot import seeds
from bot.errors import LabError
from bot.exts.stepthrough._render import shown
from bot.formatting import model_name, usage_footer
from bot.storage import step_throughs
from bot.storage.step_throughs import Candidate, StepThrough, StepToken
from model_runner.protocol import (
    LAB_SETTINGS,
    DecodingMethod,
    DecodingParams,
    StepCandidates,
    StepResult,
)
from model_runner.protocol.limits import STEP_TOKENS_MAX

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

TOP = 5  # candidate buttons per step
TAKEN = "This step was taken a moment ago: the message shows the text as it is now."
ENDED = "This step-through has ended: Export path gives its path; /step starts a new one."


def max_steps(ceiling: int, server_max_tokens: int) -> int:
    """Tokens a step-through may add: 40, or fewer where the runner or the server allows less."""
    limits = [STEP_TOKENS_MAX, ceiling] + ([server_max_tokens] if server_max_tokens else [])
    return min(limits)


def method_params(method: str) -> DecodingParams:
    """The lab's settings for a method's pick (a fresh seed for Random Sampling, one that
    /generate's seed option takes)."""
    if method == "sampling":
        return DecodingParams(method=DecodingMethod.SAMPLING, seed=seeds.fresh_seed())
    return DecodingParams(method=DecodingMethod(method), **LAB_SETTINGS[method])


def candidates_of(result: StepResult) -> list[Candidate]:
    """The runner's candidates as the step-through keeps them."""
    return [
        Candidate(c.id, c.text, shown(c.display, c.id, result.end_of_text), c.probability)
        for c in result.candidates
    ]


async def ask(
    bot: LabBot,
    step: StepThrough,
    chosen: list[int],
    params: DecodingParams | None = None,
) -> StepResult:
    """One step from the runner, for the model the step-through started on."""
    result = await bot.runner.call(
        StepCandidates(step.prompt, chosen, step.adapter, top=TOP, params=params)
    )
    if result.model != step.model:  # its token ids mean nothing to another tokenizer
        raise LabError(
            f"This step-through was started on {model_name(step.model)}, and the class now "
            f"runs {model_name(result.model)}: start a new one with /step."
        )
    return result


async def take(
    bot: LabBot, step: StepThrough, token: StepToken
) -> tuple[StepThrough, StepResult | None]:
    """Add `token` to the path with the next step's candidates (none once it has ended);
    returns the step-through as it is now, and the runner's answer for the next step."""
    chosen = [*step.chosen, token.token_id]
    ended = None
    if token.token_id == step.end_of_text:
        ended = "eos"
    elif len(chosen) >= step.max_steps:
        ended = "limit"
    result = None
    candidates: list[Candidate] = []
    if ended is None:
        result = await ask(bot, step, chosen)
        text, candidates = result.text, candidates_of(result)
    else:
        # No further step to ask for: the end of text adds no text, a last token its own.
        text = step.text + ("" if ended == "eos" else token.text)
    added = await step_throughs.add_token(
        bot.db, step.id, token, text=text, candidates=candidates, ended=ended
    )
    if not added:
        raise LabError(TAKEN)
    now = await step_throughs.get(bot.db, step.id, step.guild_id)
    assert now is not None  # it was just written
    return now, result


def usage_line(results: list[StepResult]) -> str:
    """The model, and the compute time and energy of a press's runner calls, for the footer."""
    return usage_footer(
        results[-1].model,
        sum(r.compute_ms for r in results),
        sum(r.energy_wh for r in results),
        sum(r.queue_ms for r in results),
    )
