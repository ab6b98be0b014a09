"""Commands are synced to Discord only when their definition changed."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.command_sync import sync_if_changed
from bot.storage.database import Database


class RecordingTree(app_commands.CommandTree):
    """A real command tree whose sync records the call instead of calling Discord."""

    def __init__(self) -> None:
        super().__init__(discord.Client(intents=discord.Intents.none()))
        self.synced: list[int | None] = []

    async def sync(self, *, guild=None):
        self.synced.append(guild.id if guild else None)
        return []


def add_command(tree: app_commands.CommandTree, name: str, description: str) -> None:
    async def callback(interaction: discord.Interaction) -> None: ...

    tree.add_command(app_commands.Command(name=name, description=description, callback=callback))


async def test_sync_only_when_changed(tmp_path):
    db = await Database.open(tmp_path / "db.sqlite3")
    tree = RecordingTree()
    add_command(tree, "ping", "Check the bot answers.")
    try:
        assert await sync_if_changed(tree, db, 42, None) is True
        assert await sync_if_changed(tree, db, 42, None) is False
        assert tree.synced == [None]

        tree.remove_command("ping")
        add_command(tree, "ping", "A changed description.")
        assert await sync_if_changed(tree, db, 42, None) is True
        # Another application (new token) syncs for itself.
        assert await sync_if_changed(tree, db, 43, None) is True
        assert tree.synced == [None, None, None]
    finally:
        await db.close()


async def test_dev_guild_gets_the_commands_instantly(tmp_path):
    db = await Database.open(tmp_path / "db.sqlite3")
    tree = RecordingTree()
    add_command(tree, "ping", "Check the bot answers.")
    try:
        assert await sync_if_changed(tree, db, 42, 123456789012345678) is True
        assert tree.synced == [123456789012345678]
        guild_commands = tree.get_commands(guild=discord.Object(123456789012345678))
        assert [c.name for c in guild_commands] == ["ping"]
    finally:
        await db.close()
