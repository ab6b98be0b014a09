"""`LabHarness`: start the emulator and the unmodified bot together, and act as users.

Used by the end-to-end tests and by `labbot playground`. The bot is built exactly as
`labbot run` builds it; only its Discord API base URL points at the emulator. With a
`server_file`, the emulated server (its ids and registered commands) is read from that file
and saved back with `save_server()`, so the bot's data of earlier runs still belongs to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

from bot.config import ConfigError, Secret, Settings
from bot.lab_bot import LabBot
from bot.launch import build_bot
from discord_emulator import Actor, DiscordEmulator, identity

log = logging.getLogger(__name__)


class LabHarness:
    """Emulator + bot; `actor(...)` gives a user to act as."""

    def __init__(
        self,
        settings: Settings,
        *,
        extensions: list[str] | None = None,
        time_scale: float = 1.0,
        guild_ready_timeout_s: float = 0.05,
        server_file: Path | None = None,
    ) -> None:
        self.server_file = server_file
        try:
            saved = identity.load(server_file) if server_file is not None else None
            self.emulator = DiscordEmulator(time_scale=time_scale, identity=saved)
        except ValueError as error:
            raise ConfigError(
                str(server_file), f"{error}; delete it to start a new emulated server"
            ) from None
        self.emulator.bot_in_process = True
        self._settings = settings
        self._extensions = extensions
        # The emulator sends every GUILD_CREATE right after READY, so the bot need not wait
        # discord.py's default 2 s for more guilds (about 90 bot starts in the test suite).
        self._guild_ready_timeout_s = guild_ready_timeout_s
        self.bot: LabBot | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self, ready_timeout_s: float = 60) -> None:
        """Start the emulator, then the bot, and wait until the bot is ready."""
        await self.emulator.start()
        discord_settings = dataclasses.replace(
            self._settings.discord,
            token=Secret(self.emulator.token),
            api_base=self.emulator.api_base,
            dev_guild_id=self.emulator.guild.id,
        )
        settings = dataclasses.replace(self._settings, discord=discord_settings)
        await self.start_bot(settings, ready_timeout_s)
        self.save_server()  # with the commands the bot registered

    def save_server(self) -> None:
        """Write the emulated server's identity to `server_file` (if there is one)."""
        if self.server_file is not None:
            identity.save(self.emulator, self.server_file)

    async def start_bot(self, settings: Settings, ready_timeout_s: float = 60) -> None:
        """(Re)start the bot against the running emulator."""
        self.settings = settings
        self.bot = build_bot(
            settings,
            extensions=self._extensions,
            guild_ready_timeout=self._guild_ready_timeout_s,
        )
        self._task = asyncio.create_task(self.bot.start(self.emulator.token), name="lab-bot")
        ready = asyncio.create_task(self.bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {ready, self._task}, timeout=ready_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
        if self._task in done:
            ready.cancel()
            self._task.result()  # raises the bot's startup error
            raise RuntimeError("the bot stopped during startup")
        if ready not in done:
            ready.cancel()
            raise TimeoutError(f"the bot was not ready within {ready_timeout_s} s")

    async def restart_bot(self) -> None:
        """Stop the bot and start a fresh one with the same settings and data directory."""
        await self.stop_bot()
        await self.start_bot(self.settings)

    def actor(self, name: str, roles: Sequence[str] = (), channel: str = "lab") -> Actor:
        """Act as the member `name` with exactly these roles, in `channel`."""
        member = self.emulator.add_member(name, list(roles))
        target = self.emulator.guild.channel_named(channel)
        if target is None:
            raise ValueError(f"no channel named {channel!r}")
        return Actor(self.emulator, member, target.id)

    async def stop_bot(self) -> None:
        if self.bot is not None:
            await self.bot.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, timeout=10)
            self._task = None

    async def stop(self) -> None:
        """Stop the bot and the emulator (saving the server first)."""
        self.save_server()
        await self.stop_bot()
        await self.emulator.stop()
