"""The lab guide's cog: /guide."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.exts.guide._pages import TASKS
from bot.exts.guide._render import task_page
from bot.exts.guide._views import page_view

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

CHOICES = [
    app_commands.Choice(name=f"Task {task.number}: {task.title}", value=task.number)
    for task in TASKS
]


class LabGuide(commands.Cog):
    """The lab's five tasks in order, without the notebook."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    @app_commands.command(name="guide")
    @app_commands.guild_only()  # it shows the server's own versions of the tasks' questions
    @app_commands.describe(
        task="Which task to open (default: Task 1)",
        share="Post it in the channel for everyone (default: only you see it)",
    )
    @app_commands.choices(task=CHOICES)
    async def guide(
        self, interaction: discord.Interaction, task: int = 1, share: bool = False
    ) -> None:
        """Walk through the lab's five tasks: what to do, with which commands, what to discuss."""
        embed = await task_page(self.bot, interaction.guild_id, task)
        await interaction.response.send_message(
            embed=embed, view=page_view(task), ephemeral=not share
        )
