"""Approve and Decline buttons that only instructors may press.

Used as persistent dynamic items (fine-tune runs awaiting approval, requests to join a
group), so they keep working after the bot restarts. Dynamic items have no view error hook:
errors get the shared handling here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import discord

from bot.errors import NotInstructor, report_error
from bot.permissions import is_instructor


def decision_button(action: str, custom_id: str) -> discord.ui.Button:
    """A green Approve or a red Decline button."""
    approve = action == "approve"
    return discord.ui.Button(
        label="Approve" if approve else "Decline",
        style=discord.ButtonStyle.success if approve else discord.ButtonStyle.danger,
        custom_id=custom_id,
    )


async def decide_as_instructor(
    interaction: discord.Interaction,
    decide: Callable[[discord.Interaction], Awaitable[None]],
) -> None:
    """Run `decide` for an instructor; anyone else, and any error, gets a short reply."""
    try:
        if not is_instructor(interaction):
            raise NotInstructor()
        await decide(interaction)
    except Exception as error:  # noqa: BLE001 - reported to whoever pressed it
        await report_error(interaction, error)
