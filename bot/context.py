"""Typed access to what an interaction carries: the bot, and the server it came from.

Server-only commands are refused outside a server before they run (`LabCommandTree`), so
these only fail for a crafted interaction or a component pressed in a DM; the student then
gets the usual "only works in a server" reply instead of a crash.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

import discord
from discord import app_commands

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


def lab_bot(interaction: discord.Interaction) -> LabBot:
    """The bot that received `interaction` (always a `LabBot` in this project)."""
    return cast("LabBot", interaction.client)


def server_id(interaction: discord.Interaction) -> int:
    """The id of the server the interaction came from."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild_id


def server(interaction: discord.Interaction) -> discord.Guild:
    """The server the interaction came from."""
    if interaction.guild is None:
        raise app_commands.NoPrivateMessage()
    return interaction.guild


def member(interaction: discord.Interaction) -> discord.Member:
    """Who interacted, as a member of the server it came from."""
    if not isinstance(interaction.user, discord.Member):
        raise app_commands.NoPrivateMessage()
    return interaction.user
