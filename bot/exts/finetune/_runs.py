"""Every recorded fine-tune run reaches an end: launched, followed, swept, or cancelled.

A run's record (bot/storage/finetune_jobs.py) is the one place its state lives on the bot's
side. This module keeps that record moving:

- `launch` hands a recorded run to the runner; if the runner refuses or cannot be reached,
  the run is recorded as failed at once, so the group can start again.
- `follow` keeps one follower per training run, and starts it again if it ever stops on an
  unexpected error (the follower itself treats Discord errors as harmless).
- `sweep` (every minute) follows training runs that nobody follows, and ends runs that have
  waited for an instructor's approval longer than `AWAIT_LIMIT_S`.
- `cancel` ends a group's waiting or training run (the group's own members, or an instructor).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from bot.exts.finetune._follow import POLL_S, follow, tell
from bot.followers import Followers
from bot.formatting import safe
from bot.storage import finetune_jobs
from bot.storage.finetune_jobs import JobRecord
from model_runner.protocol import (
    CancelFineTune,
    FineTuneParams,
    JobNotFound,
    RunnerError,
    StartFineTune,
)

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)

AWAIT_LIMIT_S = 24 * 3600  # a run nobody approved or declined within a day is withdrawn
SWEEP_S = 60.0


class Runs:
    """The bot's fine-tune runs in motion; one per cog."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot
        self._followers = Followers(retry_s=POLL_S * 5)

    # --- lifetime ---------------------------------------------------------------------------

    def start(self) -> None:
        """Sweep once connected (this resumes the runs of before a restart), then every minute."""

        async def sweeping() -> None:
            await self.bot.wait_until_ready()
            while True:
                try:
                    await self.sweep()
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - the next sweep tries again
                    log.exception("fine-tune sweep failed")
                await asyncio.sleep(SWEEP_S)

        self._followers.keep(asyncio.create_task(sweeping(), name="finetune-sweep"))

    def stop(self) -> None:
        self._followers.stop()

    # --- the runs -----------------------------------------------------------------------------

    async def group_name(self, group_id: int) -> str:
        row = await self.bot.db.fetchone("SELECT name FROM lab_groups WHERE id = ?", (group_id,))
        return row["name"] if row else "A group"

    async def launch(self, record: JobRecord) -> None:
        """Hand a recorded run to the runner and follow it with a progress message."""
        try:
            params = FineTuneParams.from_dict(record.params)
            await self.bot.runner.call(StartFineTune(record.adapter, record.sentences, params))
        except Exception as error:
            reason = str(error) if isinstance(error, RunnerError) else "the runner failed"
            await finetune_jobs.finish(self.bot.db, record.id, "failed", reason)
            raise
        self.follow(record)  # its first poll posts the progress message

    def follow(self, record: JobRecord) -> None:
        """Follow a training run until its record says how it ended (one follower per run)."""

        async def running() -> JobRecord | None:
            current = await finetune_jobs.get(self.bot.db, record.id)
            return current if current is not None and current.status == "running" else None

        async def follow_once(current: JobRecord) -> None:
            await follow(self.bot, current, await self.group_name(current.group_id))

        self._followers.follow(
            record.id,
            f"fine-tune {record.adapter}",
            self.bot.wait_until_ready,
            running,
            follow_once,
        )

    async def sweep(self, now: datetime | None = None) -> None:
        """Follow unfollowed training runs; withdraw runs that waited too long for approval."""
        for record in await finetune_jobs.running(self.bot.db):
            self.follow(record)
        now = now or datetime.now(UTC)
        cutoff = (now - timedelta(seconds=AWAIT_LIMIT_S)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        hours = AWAIT_LIMIT_S / 3600
        reason = f"no instructor approved it within {hours:g} hours"
        for record in await finetune_jobs.awaiting_before(self.bot.db, cutoff):
            if await finetune_jobs.finish(self.bot.db, record.id, "cancelled", reason):
                channel = self.bot.get_channel(record.channel_id)
                if channel is not None:
                    name = await self.group_name(record.group_id)
                    await tell(
                        channel,
                        f"{safe(name)} v{record.version}: withdrawn ({reason}). The pool is "
                        "intact: /finetune start to ask again.",
                    )

    async def cancel(self, record: JobRecord, who: str) -> str:
        """End a waiting or training run; the reply for whoever asked."""
        title = f"{safe(await self.group_name(record.group_id))} v{record.version}"
        reason = f"cancelled by {who}"
        if record.status == "awaiting":
            if await finetune_jobs.finish(self.bot.db, record.id, "cancelled", reason):
                return f"{title} was withdrawn before it started. The pool is intact."
            return f"{title} was already decided."
        try:
            status = await self.bot.runner.call(CancelFineTune(record.adapter))
        except JobNotFound:  # the runner does not know it (restarted): nothing trains
            status = None
        except RunnerError as error:
            # Unreachable: free the group anyway; if the run finishes later, its adapter is
            # simply never used.
            log.warning("cancelling fine-tune %s on the runner failed: %s", record.adapter, error)
            status = None
        if status is not None and status.status == "done":
            await finetune_jobs.finish(self.bot.db, record.id, "done")
            return f"{title} had already finished: it is ready to use."
        if await finetune_jobs.finish(self.bot.db, record.id, "cancelled", reason):
            return f"{title} was cancelled; nothing was saved. The pool is intact."
        return f"{title} had already ended."
