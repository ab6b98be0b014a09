"""/table: each group's comparison tables, shown and exported."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.tables._cog import Tables

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the table commands."""
    await bot.add_cog(Tables(bot))
