"""/help and /about: what the bot can do and what it is running."""

from bot.exts.meta._cog import Meta


async def setup(bot) -> None:
    """Add the meta commands."""
    await bot.add_cog(Meta(bot))
