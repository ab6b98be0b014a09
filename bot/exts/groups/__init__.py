"""/group: join or leave a lab group on servers that do not use group roles."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.groups._cog import Groups
from bot.exts.groups._joining import JoinButton

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the group commands; join requests' buttons keep working after a restart."""
    bot.add_dynamic_items(JoinButton)
    await bot.add_cog(Groups(bot))
