"""/help and /about: what the bot can do and what it is running."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.meta._cog import Meta

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the meta commands."""
    await bot.add_cog(Meta(bot))
