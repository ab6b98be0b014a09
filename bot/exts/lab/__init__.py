"""/lab (instructor controls) and /explain (the decoding methods, once revealed)."""

from bot.exts.lab._cog import LabControls


async def setup(bot) -> None:
    """Add the instructor controls and /explain."""
    await bot.add_cog(LabControls(bot))
