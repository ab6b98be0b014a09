"""/case: AI-ethics case studies posted, discussed and answered by groups (Task 5)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.cases._cog import CaseStudies
from bot.exts.cases._views import AnswerButton

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the case commands; answer buttons keep working after a restart."""
    bot.add_dynamic_items(AnswerButton)
    await bot.add_cog(CaseStudies(bot))
