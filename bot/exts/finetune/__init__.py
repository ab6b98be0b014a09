"""/finetune: a group pools sentences for its own fine-tune (Task 4)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.finetune._cog import FineTuning
from bot.exts.finetune._review import ReviewButton

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the fine-tuning commands; Approve and Decline keep working after a restart."""
    bot.add_dynamic_items(ReviewButton)
    await bot.add_cog(FineTuning(bot))
