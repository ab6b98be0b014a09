"""The meta commands' cog."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.exts.meta._render import (
    about_embed,
    command_lines,
    describe_latency,
    help_embeds,
    runner_location,
)
from bot.permissions import is_instructor
from model_runner.protocol import Info

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


def heartbeat_age(bot: object) -> tuple[float | None, float | None]:
    """Seconds since Discord last answered a heartbeat (the longest over the bot's shards),
    and the heartbeat interval.

    discord.py keeps both on each connection's heartbeat object, which is not public API:
    when it is missing or changes shape, (None, None) and the latency figure alone is shown.
    """
    shards = getattr(bot, "shards", None)  # AutoShardedBot: shard id -> ShardInfo
    if isinstance(shards, dict):
        sockets = [getattr(getattr(info, "_parent", None), "ws", None) for info in shards.values()]
    else:
        sockets = [getattr(bot, "ws", None)]
    ages: list[tuple[float, float]] = []
    now = time.perf_counter()
    for socket in sockets:
        keep_alive = getattr(socket, "_keep_alive", None)
        last_ack = getattr(keep_alive, "_last_ack", None)
        interval = getattr(keep_alive, "interval", None)
        if isinstance(last_ack, float) and isinstance(interval, int | float):
            ages.append((now - last_ack, float(interval)))
    return max(ages) if ages else (None, None)


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
        embed = about_embed(
            version=__version__,
            info=info,
            location=runner_location(self.bot.runner.location, is_instructor(interaction)),
            uptime_s=self.bot.uptime_s(),
            latency=describe_latency(self.bot.latency, *heartbeat_age(self.bot)),
        )
        await interaction.response.send_message(embed=embed)
