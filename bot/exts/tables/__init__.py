"""/table: each group's comparison tables, shown and exported."""

from bot.exts.tables._cog import Tables


async def setup(bot) -> None:
    """Add the table commands."""
    await bot.add_cog(Tables(bot))
