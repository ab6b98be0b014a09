"""The step-through's buttons: a candidate, a method, End and Export path.

Each button is a persistent dynamic item whose custom id names the stored step-through and
the step it was drawn for (`step:<id>:<tokens so far>:<action>`), so a press after a restart
goes on from the database, and a press on a step someone else has just taken is refused
instead of adding a second token. Only members of the group that started it may press
(anyone else is told whose it is); presses of one step-through take turns.
"""

from __future__ import annotations

import asyncio
import re
import weakref

import discord

from bot.context import lab_bot, member, server_id
from bot.errors import LabError, report_error
from bot.exts.stepthrough._export import path_files
from bot.exts.stepthrough._render import METHODS, percent, shown, step_embed
from bot.exts.stepthrough._steps import ENDED, TAKEN, ask, method_params, take, usage_line
from bot.formatting import clip, safe
from bot.groups import group_of
from bot.storage import guild_settings, step_throughs
from bot.storage.step_throughs import StepThrough, StepToken
from model_runner.protocol import StepResult

ACTIONS = r"t\d+|greedy|sampling|contrastive|end|export"  # t<id>: that candidate token
_turns: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


def step_view(step: StepThrough) -> discord.ui.View:
    """The candidates and the methods while it goes on; Export path always."""
    view = discord.ui.View(timeout=None)
    at = len(step.tokens)
    if not step.ended:
        for candidate in step.candidates:
            label, _ = clip(f"{candidate.display} · {percent(candidate.probability)}", 80)
            style = discord.ButtonStyle.secondary
            view.add_item(StepButton(step.id, at, f"t{candidate.id}", label, style, row=0))
        for method, name in METHODS.items():
            view.add_item(StepButton(step.id, at, method, name, discord.ButtonStyle.primary, 1))
        view.add_item(StepButton(step.id, at, "end", "End", discord.ButtonStyle.danger, 1))
    row = 0 if step.ended else 1
    view.add_item(StepButton(step.id, at, "export", "Export path", row=row))
    return view


class StepButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=rf"step:(?P<step>\d+):(?P<at>\d+):(?P<action>{ACTIONS})",
):
    """One button of a step-through's message; works across bot restarts."""

    def __init__(
        self,
        step_id: int,
        at: int,
        action: str,
        label: str = "",
        style: discord.ButtonStyle = discord.ButtonStyle.secondary,
        row: int | None = None,
    ) -> None:
        super().__init__(
            discord.ui.Button(
                label=label or action,
                style=style,
                row=row,
                custom_id=f"step:{step_id}:{at}:{action}",
            )
        )
        self.step_id, self.at, self.action = step_id, at, action

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["step"]), int(match["at"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await press(interaction, self.step_id, self.at, self.action)
        except Exception as error:  # noqa: BLE001 - dynamic items have no view error hook
            await report_error(interaction, error)


async def may_press(interaction: discord.Interaction, step: StepThrough) -> None:
    """Members of the group that started it (or, without a group, its starter) only."""
    if step.group_id is not None:
        group = await group_of(lab_bot(interaction).db, member(interaction))
        if group is None or group.id != step.group_id:
            raise LabError(
                f"This step-through is {safe(step.group_name or 'another group')}'s: only its "
                "members pick its tokens. Start your own with /step."
            )
    elif interaction.user.id != step.started_by:
        whose = f"<@{step.started_by}>'s" if step.started_by else "a former member's"
        raise LabError(f"This step-through is {whose}: start your own with /step.")


def _check_turn(step: StepThrough, at: int) -> None:
    if step.ended:
        raise LabError(ENDED)
    if len(step.tokens) != at:
        raise LabError(TAKEN)


async def press(interaction: discord.Interaction, step_id: int, at: int, action: str) -> None:
    """Do what the pressed button says, and redraw the message."""
    bot, guild_id = lab_bot(interaction), server_id(interaction)
    step = await step_throughs.get(bot.db, step_id, guild_id)
    if step is None:
        raise LabError("This step-through no longer exists: start a new one with /step.")
    await may_press(interaction, step)
    revealed = set((await guild_settings.load(bot.db, guild_id)).get("revealed", []))
    if action == "export":
        await interaction.response.send_message(
            f"The path of this step-through: {len(step.tokens)} tokens.",
            files=path_files(step, revealed),
            ephemeral=True,
        )
        return
    _check_turn(step, at)
    await interaction.response.defer()  # the model may take a while; the message is edited
    turn = _turns.setdefault(step.id, asyncio.Lock())
    async with turn:
        current = await step_throughs.get(bot.db, step_id, guild_id)
        assert current is not None
        _check_turn(current, at)  # someone else's press may have gone first
        results: list[StepResult] = []
        if action == "end":
            if not await step_throughs.end(bot.db, current.id):
                raise LabError(ENDED)
            now = await step_throughs.get(bot.db, step_id, guild_id)
            assert now is not None
        else:
            token = _candidate(current, int(action[1:]), interaction) if action[0] == "t" else None
            if token is None:
                token, picked = await _method_pick(current, action, interaction)
                results.append(picked)
            now, after = await take(bot, current, token)
            results += [after] if after is not None else []
        # Redrawn before the next press has its turn, so the message never shows an older step.
        usage = usage_line(results) if results else ""
        await interaction.edit_original_response(
            embed=step_embed(now, revealed, usage), view=step_view(now)
        )


def _who(interaction: discord.Interaction) -> dict:
    return {"user_id": interaction.user.id, "user_name": interaction.user.display_name}


def _candidate(step: StepThrough, token_id: int, interaction: discord.Interaction) -> StepToken:
    """A member's pick among the candidates the message shows."""
    for rank, candidate in enumerate(step.candidates, start=1):
        if candidate.id == token_id:
            return StepToken(
                position=len(step.tokens) + 1,
                token_id=candidate.id,
                text=candidate.text,
                display=candidate.display,
                probability=candidate.probability,
                chosen_by="member",
                reason={"rank": rank},
                **_who(interaction),
            )
    raise LabError("That token is not one of this step's candidates.")


async def _method_pick(
    step: StepThrough, method: str, interaction: discord.Interaction
) -> tuple[StepToken, StepResult]:
    """The token a method picks at this step, with its reasons."""
    result = await ask(lab_bot(interaction), step, step.chosen, method_params(method))
    pick = result.pick
    assert pick is not None  # asked with a method
    token = StepToken(
        position=len(step.tokens) + 1,
        token_id=pick.token.id,
        text=pick.token.text,
        display=shown(pick.token.display, pick.token.id, result.end_of_text),
        probability=pick.token.probability,
        chosen_by=method,
        reason=pick.to_dict(),
        **_who(interaction),
    )
    return token, result
