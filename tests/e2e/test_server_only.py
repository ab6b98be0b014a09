"""Model and group commands are server-only: Discord hides them in DMs, and the bot refuses
them outside a server itself."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from discord import app_commands

DM_ALLOWED = {"help", "about", "privacy"}  # nothing of a class's limits or groups in these


async def test_every_command_but_help_about_and_privacy_is_server_only(lab):
    registered = lab.emulator.commands[f"guild:{lab.emulator.guild.id}"]
    dm_able = {
        name
        for name, c in registered.items()
        if c.get("dm_permission", True) is not False and 1 in (c.get("contexts") or [0, 1, 2])
    }
    assert dm_able == DM_ALLOWED


@pytest.mark.parametrize("name", ["generate", "nexttoken", "finetune", "group"])
async def test_the_bot_refuses_a_server_command_outside_a_server(lab, name):
    command = lab.bot.tree.get_command(name)
    leaf = command if isinstance(command, app_commands.Command) else command.commands[0]
    interaction = SimpleNamespace(guild_id=None, command=leaf, type=None)  # not options
    with pytest.raises(app_commands.NoPrivateMessage):
        await lab.bot.tree.interaction_check(interaction)
    interaction.guild_id = lab.emulator.guild.id
    assert await lab.bot.tree.interaction_check(interaction)
