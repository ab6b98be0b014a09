"""/generate and /compare: the lab's Task 3, decoding methods side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.sampling._cog import Sampling

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the decoding commands."""
    await bot.add_cog(Sampling(bot))
