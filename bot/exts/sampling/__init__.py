"""/generate and /compare: the lab's Task 3, decoding methods side by side."""

from bot.exts.sampling._cog import Sampling


async def setup(bot) -> None:
    """Add the decoding commands."""
    await bot.add_cog(Sampling(bot))
