"""A test-only extension whose commands break Discord's rules on purpose.

Loaded only by the contract tests, to prove the emulator catches each broken rule.
"""

from __future__ import annotations

import asyncio
import contextlib

import discord
from discord import app_commands
from discord.ext import commands
from discord.webhook.async_ import handle_message_parameters


class Planted(commands.Cog):
    """Rule breakers."""

    def __init__(self, bot) -> None:
        self.bot = bot

    @app_commands.command(name="plant-big-embed")
    async def big_embed(self, interaction: discord.Interaction) -> None:
        """Two embeds of 4000 characters: 8000 across them."""
        embeds = [discord.Embed(description="x" * 4000) for _ in range(2)]
        await interaction.response.send_message(embeds=embeds)

    @app_commands.command(name="plant-slow")
    async def slow(self, interaction: discord.Interaction) -> None:
        """Answers after a pause (the test moves the clock past 3 s meanwhile)."""
        await asyncio.sleep(0.5)
        await interaction.response.send_message("late")

    @app_commands.command(name="plant-ping")
    async def ping(self, interaction: discord.Interaction) -> None:
        """Allows @everyone."""
        await interaction.response.send_message(
            "hello @everyone", allowed_mentions=discord.AllowedMentions(everyone=True)
        )

    @app_commands.command(name="plant-raw")
    async def raw(self, interaction: discord.Interaction) -> None:
        """Sends a channel message without allowed_mentions, bypassing the client default."""
        await interaction.response.send_message("sending", ephemeral=True)
        with handle_message_parameters(content="no allowed_mentions here") as params:
            await self.bot.http.send_message(interaction.channel_id, params=params)

    @app_commands.command(name="plant-twice")
    async def twice(self, interaction: discord.Interaction) -> None:
        """Tries to give two initial responses."""
        await interaction.response.send_message("one")
        route = discord.http.Route(
            "POST", "/interactions/{i}/{t}/callback", i=interaction.id, t=interaction.token
        )
        with contextlib.suppress(discord.HTTPException):
            await self.bot.http.request(route, json={"type": 4, "data": {"content": "two"}})


async def setup(bot) -> None:
    await bot.add_cog(Planted(bot))
