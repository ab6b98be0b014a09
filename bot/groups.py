"""Which lab group a member belongs to.

A server either uses roles for groups (roles the instructor marked with `/lab grouprole`, or
every role whose name starts with the group prefix, `Group ` by default) or, when it has no
such roles, groups that members join with `/group join`. One group per member per server.
"""

from __future__ import annotations

import discord

from bot.errors import LabError
from bot.storage import groups, guild_settings
from bot.storage.database import Database
from bot.storage.groups import LabGroup

DEFAULT_PREFIX = "Group "


async def group_roles(db: Database, guild: discord.Guild) -> list[discord.Role]:
    """The server's group roles (empty when it does not use roles for groups)."""
    settings = await guild_settings.load(db, guild.id)
    marked = set(settings.get("group_role_ids", []))
    prefix = settings.get("group_role_prefix", DEFAULT_PREFIX)
    return [
        role
        for role in guild.roles
        if role.id in marked or (prefix and role.name.startswith(prefix))
    ]


async def group_of(db: Database, member: discord.Member) -> LabGroup | None:
    """The member's group, or None; a member with two group roles is told to fix it."""
    roles = await group_roles(db, member.guild)
    if roles:
        ids = {role.id for role in roles}
        mine = [role for role in member.roles if role.id in ids]
        if len(mine) > 1:
            names = ", ".join(role.name for role in mine)
            raise LabError(
                f"You have more than one group role ({names}). Ask your instructor to leave "
                "you with one."
            )
        if not mine:
            return None
        return await groups.for_role(db, member.guild.id, mine[0].id, mine[0].name)
    return await groups.of_member(db, member.guild.id, member.id)


async def require_group(db: Database, member: discord.Member) -> LabGroup:
    """The member's group, or a message telling them how to get one."""
    group = await group_of(db, member)
    if group is None:
        if await group_roles(db, member.guild):
            raise LabError("You are not in a group yet: ask your instructor for a group role.")
        raise LabError("You are not in a group yet: join one with /group join name:<group name>.")
    return group
