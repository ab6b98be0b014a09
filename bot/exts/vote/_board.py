"""Keeping each open vote's message current: how many have voted, never who or for what.

Votes come in bursts (a class pressing at once), so edits are coalesced: one edit at a time
per vote, showing the count when it is made. Closing takes the same per-vote lock, so a
count edit can never land after the reveal and hide it again.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from bot.exts.vote._render import open_embed
from bot.storage import votes

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)


class VoteBoard:
    """The open votes' messages; one per cog."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot
        self._locks: dict[int, asyncio.Lock] = {}
        self._due: set[int] = set()  # votes whose count changed since their last edit
        self._tasks: dict[int, asyncio.Task] = {}

    def lock(self, vote_id: int) -> asyncio.Lock:
        """Held while the vote's message is edited (counting or closing)."""
        return self._locks.setdefault(vote_id, asyncio.Lock())

    def voted(self, vote_id: int) -> None:
        """Someone voted: show the new count soon."""
        self._due.add(vote_id)
        task = self._tasks.get(vote_id)
        if task is None or task.done():
            self._tasks[vote_id] = asyncio.create_task(
                self._refresh(vote_id), name=f"vote-count-{vote_id}"
            )

    def stop(self) -> None:
        for task in self._tasks.values():
            task.cancel()

    async def _refresh(self, vote_id: int) -> None:
        while vote_id in self._due:
            self._due.discard(vote_id)
            async with self.lock(vote_id):
                vote = await votes.get(self.bot.db, vote_id)
                if vote is None or vote.status != "open" or vote.message_id is None:
                    return
                count = await votes.voters(self.bot.db, vote_id)
                channel = self.bot.get_partial_messageable(vote.channel_id)
                try:
                    await channel.get_partial_message(vote.message_id).edit(
                        embed=open_embed(vote, count),
                        allowed_mentions=discord.AllowedMentions.none(),  # not implied by an embed
                    )
                except discord.HTTPException as error:  # the next vote tries again
                    log.warning("vote %s: count not shown (%s)", vote_id, error)
