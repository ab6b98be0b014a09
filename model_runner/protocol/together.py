"""Running requests that only make sense together: all of them, or none.

`/compare` asks for four decodings of one prompt (or three columns of models). If one of them
fails, say refused because the queue is full, the others' results are of no use, yet with a
plain `asyncio.gather` they keep decoding and hold the batch for nothing. `all_or_none`
cancels the rest as soon as one fails; a cancelled request leaves the engine at its next step.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def all_or_none(*awaitables: Awaitable[T]) -> list[T]:
    """The results in order; on the first failure the others are cancelled (and awaited)
    and that failure is raised as it is (not wrapped in an ExceptionGroup)."""
    tasks = [asyncio.ensure_future(item) for item in awaitables]
    try:
        done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except asyncio.CancelledError:
        await _cancel(tasks)
        raise
    # Every finished task's exception is read (so asyncio never reports one as "never
    # retrieved" when several columns fail at once); the first in order is raised.
    errors = [t.exception() for t in tasks if t in done and not t.cancelled()]
    first = next((error for error in errors if error is not None), None)
    if first is not None:
        await _cancel(pending)
        raise first
    return [task.result() for task in tasks]


async def _cancel(tasks) -> None:
    """Cancel `tasks` and wait until each has finished cancelling."""
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
