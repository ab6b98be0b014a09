"""A local Discord on loopback: gateway, HTTP API and contract checks, for end-to-end tests
and the offline playground. discord.py connects to it unchanged once its API base URL points
here (`LABBOT_DISCORD_API_BASE`)."""

from discord_emulator.actions import ActionError, Actor, Reply
from discord_emulator.contract import Violation
from discord_emulator.server import DiscordEmulator
from discord_emulator.world import Upload

__all__ = ["ActionError", "Actor", "DiscordEmulator", "Reply", "Upload", "Violation"]
