"""/guide: the lab's five tasks in order, page by page, so a class can follow it in Discord."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.guide._cog import LabGuide
from bot.exts.guide._views import GuideButton

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add /guide; its Previous and Next buttons keep working after a restart."""
    bot.add_dynamic_items(GuideButton)
    await bot.add_cog(LabGuide(bot))
