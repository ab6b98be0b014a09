"""/lab (instructor controls) and /explain (the decoding methods, once revealed)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.lab._cog import LabControls

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the instructor controls and /explain."""
    await bot.add_cog(LabControls(bot))
