"""The group commands' cog."""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import member, server, server_id
from bot.errors import LabError
from bot.exts.groups._joining import joining_mode, request_view
from bot.formatting import safe
from bot.groups import group_of, group_roles
from bot.storage import groups

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

MAX_NAME = 40


class Groups(commands.Cog):
    """Lab groups: one per member per server."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    group = app_commands.Group(name="group", description="Your lab group.", guild_only=True)

    async def _no_roles(self, guild: discord.Guild) -> None:
        if await group_roles(self.bot.db, guild):
            raise LabError(
                "Groups on this server are roles: ask your instructor to give you your "
                "group's role."
            )

    @group.command(name="join")
    @app_commands.describe(name="Your group's name, e.g. Group 3 or The Tokenizers")
    async def join(self, interaction: discord.Interaction, name: str) -> None:
        """Join a group (it is created if nobody has used the name yet)."""
        guild_id = server_id(interaction)
        await self._no_roles(server(interaction))
        name = " ".join(name.split())
        if not 1 <= len(name) <= MAX_NAME:
            raise LabError(f"A group name has 1 to {MAX_NAME} characters.")
        current = await groups.of_member(self.bot.db, guild_id, interaction.user.id)
        if current is not None:
            raise LabError(
                f"You are already in {safe(current.name)}: /group leave first to switch groups."
            )
        existing = await groups.find(self.bot.db, guild_id, name)
        mode = await joining_mode(self.bot.db, guild_id)
        if mode == "locked":
            raise LabError(_LOCKED)
        members = await groups.members(self.bot.db, existing.id) if existing else []
        if mode == "approval" and members:
            await self._ask_to_join(interaction, existing)
            return
        try:
            joined = await groups.join(
                self.bot.db,
                guild_id,
                interaction.user.id,
                existing.name if existing else name,
            )
        except sqlite3.IntegrityError:  # joined twice at the same moment
            raise LabError("You are already in a group.") from None
        await interaction.response.send_message(
            f"You are now in **{safe(joined.name)}**. Your group's /compare results are "
            "saved to its table."
        )

    async def _ask_to_join(self, interaction: discord.Interaction, group) -> None:
        """Post the request for an instructor; the member is told it waits."""
        await interaction.response.send_message(
            f"{interaction.user.mention} asks to join **{safe(group.name)}**: joining a group "
            "on this server needs an instructor's approval.",
            view=request_view(interaction.user.id, group.id),
        )

    @group.command(name="leave")
    async def leave(self, interaction: discord.Interaction) -> None:
        """Leave your group."""
        guild_id = server_id(interaction)
        await self._no_roles(server(interaction))
        if await joining_mode(self.bot.db, guild_id) == "locked":
            raise LabError(_LOCKED)
        current = await groups.of_member(self.bot.db, guild_id, interaction.user.id)
        if current is None or not await groups.leave(self.bot.db, guild_id, interaction.user.id):
            raise LabError("You are not in a group.")
        await interaction.response.send_message(
            f"You left **{safe(current.name)}**.", ephemeral=True
        )

    @group.command(name="show")
    async def show(self, interaction: discord.Interaction) -> None:
        """Show your group and who is in it."""
        current = await group_of(self.bot.db, member(interaction))
        if current is None:
            raise LabError("You are not in a group yet.")
        if current.role_id is not None:
            role = server(interaction).get_role(current.role_id)
            who = f"everyone with the {role.mention} role" if role else "its role's members"
        else:
            ids = await groups.members(self.bot.db, current.id)
            who = ", ".join(f"<@{i}>" for i in ids)
        await interaction.response.send_message(
            f"You are in **{safe(current.name)}**: {who}.", ephemeral=True
        )


_LOCKED = (
    "Groups on this server are locked by your instructor: ask them if you need to change "
    "your group."
)
