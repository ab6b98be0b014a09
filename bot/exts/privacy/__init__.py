"""/privacy: see or delete what the bot stores about you."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.privacy._cog import Privacy

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the privacy commands."""
    await bot.add_cog(Privacy(bot))
