"""Sync application commands only when their definition changed.

Discord allows 200 command creations a day per application; syncing on every restart of a
bot that is being developed burns through that. We keep a digest of what was last synced,
per application and scope, in the database and skip the sync when nothing changed.
"""

from __future__ import annotations

import hashlib
import json
import logging

import discord
from discord import app_commands

from bot.storage import command_sync
from bot.storage.database import Database

log = logging.getLogger(__name__)


def command_payloads(tree: app_commands.CommandTree, guild: discord.abc.Snowflake | None):
    """The JSON Discord receives for the commands of one scope, in a stable order."""
    payloads = [command.to_dict(tree) for command in tree.get_commands(guild=guild)]
    return sorted(payloads, key=lambda p: (p.get("type", 1), p["name"]))


def digest(payloads: list[dict]) -> str:
    """sha256 of the payloads, independent of key order."""
    return hashlib.sha256(json.dumps(payloads, sort_keys=True).encode()).hexdigest()


async def sync_if_changed(
    tree: app_commands.CommandTree,
    db: Database,
    application_id: int,
    dev_guild_id: int | None,
) -> bool:
    """Sync the tree to Discord if it differs from the last sync; True when it synced.

    With a development guild, the global commands are copied to that guild (instant update)
    and nothing is registered globally.
    """
    guild = discord.Object(dev_guild_id) if dev_guild_id else None
    if guild is not None:
        tree.copy_global_to(guild=guild)
    scope = f"{application_id}:" + (f"guild:{dev_guild_id}" if guild else "global")
    current = digest(command_payloads(tree, guild))
    if await command_sync.last_digest(db, scope) == current:
        log.info("application commands unchanged (%s); not syncing", scope)
        return False
    synced = await tree.sync(guild=guild)
    await command_sync.record_digest(db, scope, current)
    log.info("synced %d application commands (%s)", len(synced), scope)
    return True
