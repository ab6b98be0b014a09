"""Who counts as an instructor: members with a configured instructor role, or server managers."""

from __future__ import annotations

from collections.abc import Iterable

import discord

from bot.context import lab_bot
from bot.errors import NotInstructor

# Default permissions for instructor-only commands: Discord hides them from members without
# Manage Server until a server admin grants them in Server Settings > Integrations.
INSTRUCTOR_DEFAULT_PERMISSIONS = discord.Permissions(manage_guild=True)
# A subcommand's extras when it is for instructors: /help marks it, and
# `check_instructor_subcommand` refuses it to everyone else.
INSTRUCTOR = {"instructor": True}


def has_instructor_role(member: discord.Member, instructor_roles: Iterable[str]) -> bool:
    """True when one of the member's roles matches a configured role name or id."""
    wanted = {name.casefold() for name in instructor_roles}
    return any(role.name.casefold() in wanted or str(role.id) in wanted for role in member.roles)


def is_instructor(interaction: discord.Interaction) -> bool:
    """Server-side check: Discord's default permissions alone can be changed by admins."""
    member = interaction.user
    if not isinstance(member, discord.Member):
        return False
    if member.guild_permissions.manage_guild or member.guild_permissions.administrator:
        return True
    roles = lab_bot(interaction).settings.discord.instructor_roles
    return has_instructor_role(member, roles)


def check_instructor_subcommand(interaction: discord.Interaction) -> bool:
    """A cog's interaction_check: a subcommand marked `INSTRUCTOR` is checked on the server
    (Discord cannot hide subcommands), raising `NotInstructor` for anyone else."""
    command = interaction.command
    if command is not None and command.extras.get("instructor") and not is_instructor(interaction):
        raise NotInstructor()
    return True


async def only_opener(interaction: discord.Interaction, opener_id: int) -> bool:
    """True for the member who opened a form or a confirmation; anyone else (a crafted
    interaction: Discord shows these to their opener alone) is told it is not theirs."""
    if interaction.user.id == opener_id:
        return True
    await interaction.response.send_message(
        "This is not yours: run the command (or press the button) yourself.", ephemeral=True
    )
    return False
