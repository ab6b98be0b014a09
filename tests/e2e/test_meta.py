"""/help and /about through the emulator."""

from __future__ import annotations

import re

from bot.exts.meta._cog import heartbeat_age


async def test_commands_are_registered_for_the_dev_guild(lab):
    scope = f"guild:{lab.emulator.guild.id}"
    assert {"help", "about"} <= set(lab.emulator.commands[scope])


async def test_help_lists_every_command(lab):
    reply = await lab.actor("Ada", roles=["Group 1"]).slash("help")
    assert reply.ephemeral
    assert "/help" in reply.text and "/about" in reply.text
    assert "Show the bot's version" in reply.text


async def test_about_shows_model_and_device(lab):
    await lab.bot.runner.runner.wait_ready()
    reply = await lab.actor("Ada").slash("about")
    text = reply.text
    assert "`tiny`" in text and "ready" in text and "cpu" in text
    assert "Version" in text and "Uptime" in text
    assert re.search(
        r"Discord latency\W+(under|about) \d\.\d s|Discord latency\W+not measured", text
    )
    # The heartbeat's age is read from discord.py's connection (not public API): still there.
    since, interval = heartbeat_age(lab.bot)
    assert interval is not None and interval > 0 and since is not None and since >= 0
