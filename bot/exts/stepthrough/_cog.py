"""The /step command: start a step-through and post its message."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import fine_tuned
from bot.context import member, server_id
from bot.exts.stepthrough._buttons import step_view
from bot.exts.stepthrough._render import step_embed
from bot.exts.stepthrough._steps import TOP, candidates_of, max_steps, usage_line
from bot.groups import group_of
from bot.prompts import check_prompt
from bot.storage import guild_settings, step_throughs
from model_runner.protocol import StepCandidates

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


class StepThroughs(commands.Cog):
    """Task 3, one token at a time: a group builds a continuation and watches methods pick."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    @app_commands.command(name="step")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The text to continue, one token at a time",
        model="Pre-trained (default), fine-tuned (your group's latest) or one of its versions (v1, ...)",
    )
    @app_commands.autocomplete(model=fine_tuned.autocomplete)
    async def step(
        self, interaction: discord.Interaction, prompt: str, model: str | None = None
    ) -> None:
        """Build a continuation token by token: pick each one, or let a method pick and say why."""
        check_prompt(prompt)
        who = member(interaction)
        chosen = await fine_tuned.resolve(self.bot.db, who, model)
        group = await group_of(self.bot.db, who)
        guild_id = server_id(interaction)
        limits = await self.bot.policy.limits(guild_id)
        steps = max_steps(self.bot.settings.runner.max_new_tokens, limits.max_tokens)
        await self.bot.policy.admit(interaction, steps)
        await interaction.response.defer(thinking=True)
        result = await self.bot.runner.call(StepCandidates(prompt, [], chosen.adapter, top=TOP))
        step_id = await step_throughs.start(
            self.bot.db,
            guild_id=guild_id,
            group_id=group.id if group else None,
            started_by=who.id,
            prompt=prompt,
            model_label=chosen.label,
            adapter=chosen.adapter,
            model=result.model,
            max_steps=steps,
            end_of_text=result.end_of_text,
            candidates=candidates_of(result),
        )
        step = await step_throughs.get(self.bot.db, step_id, guild_id)
        assert step is not None  # just written
        revealed = set((await guild_settings.load(self.bot.db, guild_id)).get("revealed", []))
        await interaction.edit_original_response(
            embed=step_embed(step, revealed, usage_line([result])), view=step_view(step)
        )
