"""/group: join or leave a lab group on servers that do not use group roles."""

from bot.exts.groups._cog import Groups


async def setup(bot) -> None:
    """Add the group commands."""
    await bot.add_cog(Groups(bot))
