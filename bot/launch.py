"""Build the bot from settings and run it until it is stopped."""

from __future__ import annotations

import logging
import sys

import aiohttp
import discord
import discord.http

from bot.config import ConfigError, Settings
from bot.lab_bot import LabBot
from model_runner.client import RunnerClient, connect

log = logging.getLogger(__name__)


def point_at_discord(api_base: str) -> None:
    """Send discord.py's HTTP traffic (and so the gateway lookup) to `api_base`."""
    discord.http.Route.BASE = api_base.rstrip("/")


def runner_client(settings: Settings) -> RunnerClient:
    """The runner client the settings ask for: in-process or HTTP."""
    runner = settings.runner
    return connect(
        url=runner.url,
        token=runner.token.get() if runner.token else None,
        model=runner.model,
        device=runner.device,
        data_dir=settings.storage.data_dir,
        model_cache=settings.storage.model_cache,
        max_new_tokens=runner.max_new_tokens,
        device_power_w=runner.device_power_w,
        queue_size=runner.queue_size,
        finetunes_together=runner.finetunes_together,
        finetune_precision=runner.finetune_precision,
        threads=runner.threads,
        precision=runner.precision,
    )


def build_bot(settings: Settings, **kwargs) -> LabBot:
    """A `LabBot` wired to the configured Discord API and runner."""
    point_at_discord(settings.discord.api_base)
    return LabBot(settings, runner_client(settings), **kwargs)


async def run_bot(settings: Settings, token: str) -> int:
    """Log in and serve until interrupted; a rejected token is a configuration error."""
    bot = build_bot(settings)
    async with bot:
        try:
            await bot.start(token)
        except aiohttp.ClientConnectorError as error:
            reason = getattr(error.os_error, "strerror", None) or str(error.os_error)
            print(
                f"labbot: cannot reach Discord at {settings.discord.api_base} ({reason}): "
                "check this machine's internet connection (or LABBOT_DISCORD_API_BASE).",
                file=sys.stderr,
            )
            return 1
        except discord.LoginFailure:
            raise ConfigError(
                "DISCORD_TOKEN",
                "Discord rejected the token; copy it again from the "
                "Bot page of your application in the Developer Portal",
            ) from None
    return 0
