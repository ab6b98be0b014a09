"""Telling a student where their request stands while the model works on others'.

Progress messages start with ⏳; the final answer replaces them (and the emulator's tests
treat a ⏳ message as "still working").
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

import discord

from model_runner.protocol import Info

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)

WORKING = "⏳"


async def show_queue(bot: LabBot, interaction: discord.Interaction) -> None:
    """After deferring: if requests are queued ahead, say how many."""
    try:
        info = await asyncio.wait_for(bot.runner.call(Info()), timeout=1.0)
    except Exception:  # noqa: BLE001 - the queue note is a courtesy, never a failure
        return
    if info.waiting > 0:
        await interaction.edit_original_response(
            content=f"{WORKING} Waiting for the model: {info.waiting} generations are queued "
            "ahead of yours. Your result will appear here."
        )
