"""Instructor approval of fine-tunes: Approve and Decline under a run that waits.

The buttons are dynamic items, so they keep working after the bot restarts; only instructors
can press them (checked here, on the server), and the first decision wins.
"""

from __future__ import annotations

import re

import discord

from bot.context import lab_bot
from bot.decision_buttons import decide_as_instructor, decision_button
from bot.errors import LabError
from bot.storage import finetune_jobs, guild_settings
from bot.storage.database import Database


async def approval_required(db: Database, guild_id: int) -> bool:
    """Whether the server's instructors turned approval on (/lab approval)."""
    return bool((await guild_settings.load(db, guild_id)).get("finetune_approval", False))


def review_view(job_id: int) -> discord.ui.View:
    """Approve and Decline under a run that waits for an instructor."""
    view = discord.ui.View(timeout=None)
    view.add_item(ReviewButton(job_id, "approve"))
    view.add_item(ReviewButton(job_id, "decline"))
    return view


class ReviewButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"finetune:(?P<action>approve|decline):(?P<job>\d+)",
):
    """An instructor approves or declines a group's run."""

    def __init__(self, job_id: int, action: str) -> None:
        super().__init__(decision_button(action, f"finetune:{action}:{job_id}"))
        self.job_id, self.action = job_id, action

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["job"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await decide_as_instructor(interaction, self._decide)

    async def _decide(self, interaction: discord.Interaction) -> None:
        from bot.exts.finetune._cog import FineTuning  # it imports this module

        bot = lab_bot(interaction)
        cog = bot.get_cog("FineTuning")
        if not isinstance(cog, FineTuning):  # checked before the decision is recorded
            raise LabError("Fine-tuning is not available right now: try again later.")
        approve = self.action == "approve"
        record = await finetune_jobs.decide(bot.db, self.job_id, interaction.user.id, approve)
        if record is None:
            current = await finetune_jobs.get(bot.db, self.job_id)
            state = current.status if current else "gone"
            raise LabError(f"This run was already decided (it is {state}).")
        title = f"v{record.version}"
        who = interaction.user.mention
        request = interaction.message.content if interaction.message else ""
        if not approve:
            await interaction.response.edit_message(
                content=f"{request}\n❌ Declined by {who}. The pool is unchanged.",
                view=None,
            )
            return
        await interaction.response.edit_message(
            content=f"{request}\n✅ Approved by {who} ({title}).", view=None
        )
        await cog.launch(record)
