"""/nexttoken, /tokens and /loss: the lab's Task 1, the pre-training steps made visible."""

from bot.exts.pretraining._cog import Pretraining


async def setup(bot) -> None:
    """Add the pre-training commands."""
    await bot.add_cog(Pretraining(bot))
