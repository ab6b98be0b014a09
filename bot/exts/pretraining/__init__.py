"""/nexttoken, /tokens and /loss: the lab's Task 1, the pre-training steps made visible."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.pretraining._cog import Pretraining

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the pre-training commands."""
    await bot.add_cog(Pretraining(bot))
