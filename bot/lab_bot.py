"""`LabBot`: the discord.py bot that owns the database and the runner client.

It loads one extension per feature in `setup_hook`, syncs commands only when they changed,
and never lets a message ping anyone: `AllowedMentions.none()` is the default for everything
it sends.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket

from bot import expired
from bot.command_sync import sync_if_changed
from bot.config import DISCORD_API_BASE, Settings
from bot.errors import LabCommandTree
from bot.exts import find_extensions
from bot.formatting import model_name
from bot.policy import UsagePolicy
from bot.storage.database import Database
from model_runner.client import RunnerClient
from model_runner.protocol import Info

log = logging.getLogger(__name__)


def lab_intents() -> discord.Intents:
    """Only the guilds intent: slash commands need no privileged or message intents."""
    return discord.Intents(guilds=True)


class LabBot(commands.AutoShardedBot):
    """The bot: shared resources live here, features live in extensions.

    Auto-sharded, so it asks Discord (`GET /gateway/bot`) how many shards and which gateway
    URL to use; one shard for a class server, more when it serves a whole university.
    """

    def __init__(
        self,
        settings: Settings,
        runner: RunnerClient,
        *,
        extensions: list[str] | None = None,
        sync_commands: bool = True,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        super().__init__(
            command_prefix=commands.when_mentioned,  # slash commands only; no prefix commands
            intents=lab_intents(),
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            tree_cls=LabCommandTree,
            # How long discord.py waits after the last GUILD_CREATE before `ready`: Discord's
            # default on real servers; the emulator sends every guild at once (tests, playground).
            guild_ready_timeout=guild_ready_timeout,
        )
        self.settings = settings
        self.runner = runner
        self.started_at = time.monotonic()
        self._extensions = find_extensions() if extensions is None else extensions
        self._sync_commands = sync_commands
        self._db: Database | None = None
        self.policy = UsagePolicy(lambda: self.db)
        self._model_name: tuple[str, float] | None = None  # the name, and when it was asked

    @property
    def db(self) -> Database:
        """The open database (available from `setup_hook` on)."""
        if self._db is None:
            raise RuntimeError("the database is opened in setup_hook")
        return self._db

    async def setup_hook(self) -> None:
        if self.settings.discord.api_base != DISCORD_API_BASE:
            # A Discord other than discord.com (the emulator): discord.py falls back to its
            # built-in gateway URL after an invalidated session, so use the advertised one.
            _, url, _ = await self.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(url)
        self._db = await Database.open(self.settings.storage.database_path)
        await self.runner.start()
        for name in self._extensions:
            await self.load_extension(name)
        log.info("loaded %d extensions", len(self._extensions))
        if self._sync_commands and self.application_id is not None:
            await sync_if_changed(
                self.tree, self.db, self.application_id, self.settings.discord.dev_guild_id
            )

    async def on_interaction(self, interaction: discord.Interaction) -> None:
        expired.watch(interaction)  # a press or form nobody handles still gets an answer

    async def on_ready(self) -> None:
        log.info("connected as %s to %d servers", self.user, len(self.guilds))

    async def close(self) -> None:
        await super().close()
        await self.runner.close()
        if self._db is not None:
            await self._db.close()
            self._db = None

    MODEL_NAME_TTL_S = 60.0

    async def model_name(self) -> str:
        """The class's model as texts name it (`GPT-2`, `Gemma 3 270M`), from the runner's
        info, asked at most once a minute and never for longer than a second; when the
        runner does not answer, the model configured here (in-process) or "the class's
        model"."""
        now = time.monotonic()
        if self._model_name is not None and now - self._model_name[1] < self.MODEL_NAME_TTL_S:
            return self._model_name[0]
        try:
            configured = (await asyncio.wait_for(self.runner.call(Info()), timeout=1.0)).model
        except Exception:  # noqa: BLE001 - an unreachable runner must not break a text
            local = self.runner.location == "in-process"
            configured = self.settings.runner.model if local else ""
        name = model_name(configured)
        self._model_name = (name, now)
        return name

    def uptime_s(self) -> float:
        """Seconds since the bot object was created."""
        return time.monotonic() - self.started_at
