"""Fixtures for driving the emulator directly: a running emulator and an HTTP session."""

from __future__ import annotations

import aiohttp
import pytest

from discord_emulator import DiscordEmulator


@pytest.fixture
async def emu(request):
    """A running emulator; a module sets `TIME_SCALE` for faster clocks (default 0.05)."""
    emulator = DiscordEmulator(time_scale=getattr(request.module, "TIME_SCALE", 0.05))
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


@pytest.fixture
async def http(emu):
    """An HTTP session at the emulator, authorised as its bot."""
    headers = {"Authorization": f"Bot {emu.token}"}
    async with aiohttp.ClientSession(base_url=emu.base_url, headers=headers) as session:
        yield session
