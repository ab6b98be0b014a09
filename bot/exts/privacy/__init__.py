"""/privacy: see or delete what the bot stores about you."""

from bot.exts.privacy._cog import Privacy


async def setup(bot) -> None:
    """Add the privacy commands."""
    await bot.add_cog(Privacy(bot))
