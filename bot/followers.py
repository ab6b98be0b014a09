"""Background tasks that follow a job until its record says how it ended: one follower per
job, restarted after an unexpected error, all cancelled when their cog unloads. Used for the
groups' fine-tunes and the class's alignment runs."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


class Followers:
    """The tasks of one cog: `keep` holds any task until it ends; `follow` runs one follower
    per key."""

    def __init__(self, retry_s: float) -> None:
        self.retry_s = retry_s
        self._tasks: set[asyncio.Task] = set()
        self._by_key: dict[int, asyncio.Task] = {}

    def keep(self, task: asyncio.Task) -> None:
        """Hold a reference until the task ends."""
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def stop(self) -> None:
        for task in self._tasks:
            task.cancel()

    def follow(
        self,
        key: int,
        name: str,
        ready: Callable[[], Awaitable[object]],
        running: Callable[[], Awaitable[T | None]],
        follow_once: Callable[[T], Awaitable[None]],
    ) -> None:
        """Unless `key` is followed already: once `ready`, while `running()` gives the job's
        record (None once it ended), run `follow_once(record)` until it returns; an error is
        logged and following starts again shortly."""
        current = self._by_key.get(key)
        if current is not None and not current.done():
            return

        async def keep_following() -> None:
            await ready()
            while (record := await running()) is not None:
                try:
                    await follow_once(record)
                    return
                except asyncio.CancelledError:
                    raise
                except Exception:  # noqa: BLE001 - logged; following starts again
                    log.exception("following %s failed; again shortly", name)
                    await asyncio.sleep(self.retry_s)

        task = asyncio.create_task(keep_following(), name=f"follow-{name}")
        self._by_key[key] = task
        task.add_done_callback(lambda _: self._by_key.pop(key, None))
        self.keep(task)
