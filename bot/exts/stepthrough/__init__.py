"""/step: the lab's Task 3 one token at a time, with why each decoding method picks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.stepthrough._buttons import StepButton
from bot.exts.stepthrough._cog import StepThroughs

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add /step and its buttons (which keep working after a restart)."""
    await bot.add_cog(StepThroughs(bot))
    bot.add_dynamic_items(StepButton)
