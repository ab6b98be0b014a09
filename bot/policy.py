"""The instructor's limits on model commands: channels, max_tokens, cooldown, group quota.

Checked before a model command is acknowledged, so a refused request costs no model time and
the student gets a short private answer saying what to do. Cooldowns and quotas are counted
in memory (they restart with the bot); the limits themselves are server settings.
"""

from __future__ import annotations

import collections
import time
from dataclasses import dataclass

import discord

from bot.errors import LabError
from bot.groups import group_of
from bot.storage import guild_settings
from bot.storage.database import Database

HOUR_S = 3600.0


@dataclass(frozen=True)
class LabLimits:
    """One server's limits (0 or empty means no limit)."""

    channels: tuple[int, ...] = ()  # channels (and their threads) the bot answers in
    max_tokens: int = 0  # below the runner's own ceiling
    cooldown_s: int = 0  # between one member's model commands
    group_quota: int = 0  # model commands per group per hour

    @classmethod
    def from_settings(cls, settings: dict) -> LabLimits:
        return cls(
            channels=tuple(settings.get("channels", [])),
            max_tokens=int(settings.get("max_tokens", 0)),
            cooldown_s=int(settings.get("cooldown_s", 0)),
            group_quota=int(settings.get("group_quota", 0)),
        )


class UsagePolicy:
    """Applies each server's limits; one per bot."""

    def __init__(self, db_getter) -> None:
        self._db = db_getter
        self._last_use: dict[tuple[int, int], float] = {}
        self._group_uses: dict[int, collections.deque[float]] = collections.defaultdict(
            collections.deque
        )

    @property
    def db(self) -> Database:
        return self._db()

    async def limits(self, guild_id: int | None) -> LabLimits:
        if guild_id is None:
            return LabLimits()
        return LabLimits.from_settings(await guild_settings.load(self.db, guild_id))

    async def admit(self, interaction: discord.Interaction, max_tokens: int = 0) -> None:
        """Raise a `LabError` if this model command is outside the server's limits."""
        limits = await self.limits(interaction.guild_id)
        channel = interaction.channel
        if limits.channels and channel is not None:
            parent = getattr(channel, "parent_id", None)
            if channel.id not in limits.channels and parent not in limits.channels:
                where = ", ".join(f"<#{c}>" for c in limits.channels)
                raise LabError(f"The lab runs in {where}: please use the commands there.")
        if limits.max_tokens and max_tokens > limits.max_tokens:
            raise LabError(
                f"max_tokens must be at most {limits.max_tokens} on this server "
                f"(you asked for {max_tokens})."
            )
        now = time.monotonic()
        key = (interaction.guild_id or 0, interaction.user.id)
        if limits.cooldown_s:
            wait = self._last_use.get(key, -1e9) + limits.cooldown_s - now
            if wait > 0:
                raise LabError(f"Slow down a little: try again in {wait:.0f} s.")
        group = None
        if limits.group_quota and isinstance(interaction.user, discord.Member):
            group = await group_of(self.db, interaction.user)
            if group is not None:
                uses = self._group_uses[group.id]
                while uses and now - uses[0] > HOUR_S:
                    uses.popleft()
                if len(uses) >= limits.group_quota:
                    minutes = (uses[0] + HOUR_S - now) / 60
                    raise LabError(
                        f"{group.name} has used its {limits.group_quota} requests for this "
                        f"hour: the next one frees up in {minutes:.0f} min."
                    )
                uses.append(now)
        self._last_use[key] = now
