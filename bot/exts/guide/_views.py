"""Previous and Next under a page of the guide: persistent, so they work after a restart.

On a student's own (private) guide a press turns the page in place. On a guide posted for
the class a press opens the page privately for whoever pressed, so nobody turns the class's
copy under everyone else's eyes.
"""

from __future__ import annotations

import re

import discord

from bot.context import lab_bot
from bot.errors import LabError, report_error
from bot.exts.guide._pages import TASKS
from bot.exts.guide._render import task_page


class GuideButton(discord.ui.DynamicItem[discord.ui.Button], template=r"guide:task:(?P<task>\d+)"):
    """Turns the guide to task `task`."""

    def __init__(self, task: int, label: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=label, style=discord.ButtonStyle.secondary, custom_id=f"guide:task:{task}"
            )
        )
        self.task = task

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["task"]), item.label or "")

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._turn(interaction)
        except Exception as error:  # noqa: BLE001 - dynamic items have no view error hook
            await report_error(interaction, error)

    async def _turn(self, interaction: discord.Interaction) -> None:
        if not 1 <= self.task <= len(TASKS):
            raise LabError(f"The guide has tasks 1 to {len(TASKS)}: /guide opens it again.")
        embed = await task_page(lab_bot(interaction), interaction.guild_id, self.task)
        view = page_view(self.task)
        message = interaction.message
        if message is not None and message.flags.ephemeral:
            await interaction.response.edit_message(embed=embed, view=view)
        else:
            await interaction.response.send_message(embed=embed, view=view, ephemeral=True)


def page_view(task: int) -> discord.ui.View:
    """Previous and Next for task `task` (none before the first, none after the last)."""
    view = discord.ui.View(timeout=None)
    if task > 1:
        view.add_item(GuideButton(task - 1, f"Previous: Task {task - 1}"))
    if task < len(TASKS):
        view.add_item(GuideButton(task + 1, f"Next: Task {task + 1}"))
    return view
