"""The meta commands' cog."""

from __future__ import annotations

import asyncio
import math
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.exts.meta._render import about_embed, command_lines, help_embeds, runner_location
from bot.permissions import is_instructor
from model_runner.protocol import Info

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


class Meta(commands.Cog):
    """Commands about the bot itself."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    @app_commands.command(name="help")
    async def help(self, interaction: discord.Interaction) -> None:
        """List every command and what it does."""
        lines = command_lines(self.bot.tree.get_commands(type=discord.AppCommandType.chat_input))
        await interaction.response.send_message(embeds=help_embeds(lines), ephemeral=True)

    @app_commands.command(name="about")
    async def about(self, interaction: discord.Interaction) -> None:
        """Show the bot's version, model, device and uptime."""
        try:
            info = await asyncio.wait_for(self.bot.runner.call(Info()), timeout=2)
        except Exception:  # noqa: BLE001 - an unreachable runner is shown, not raised
            info = None
        latency = self.bot.latency * 1000 if math.isfinite(self.bot.latency) else 0.0
        embed = about_embed(
            version=__version__,
            info=info,
            location=runner_location(self.bot.runner.location, is_instructor(interaction)),
            uptime_s=self.bot.uptime_s(),
            latency_ms=latency,
        )
        await interaction.response.send_message(embed=embed)
