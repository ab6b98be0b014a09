"""Buttons and forms nobody handles any more get an answer.

A confirmation's buttons and every form stop listening after their timeout, and all of them
when the bot restarts; Discord then shows the student "This interaction failed" with no
reason. Every component press and form submission is watched: one that no handler has
answered shortly before Discord's 3 s deadline gets a private line saying what to do.
"""

from __future__ import annotations

import asyncio
import contextlib

import discord

EXPIRED = (
    "This button or form has expired (it was open too long, or the bot restarted): "
    "run the command again."
)
ANSWER_AFTER_S = 2.5  # handlers answer at once; Discord gives up at 3 s

_WATCHED = (discord.InteractionType.component, discord.InteractionType.modal_submit)
_pending: set[asyncio.Task[None]] = set()


def watch(interaction: discord.Interaction) -> None:
    """Answer `interaction` with `EXPIRED` if nothing else has within `ANSWER_AFTER_S`."""
    if interaction.type not in _WATCHED:
        return
    waiter = _answer_if_unhandled(interaction, ANSWER_AFTER_S)
    task = asyncio.create_task(waiter, name="lab-expired")
    _pending.add(task)
    task.add_done_callback(_pending.discard)


async def _answer_if_unhandled(interaction: discord.Interaction, after_s: float) -> None:
    await asyncio.sleep(after_s)
    if interaction.response.is_done() or interaction.is_expired():
        return
    with contextlib.suppress(discord.HTTPException, discord.InteractionResponded):
        await interaction.response.send_message(EXPIRED, ephemeral=True)
