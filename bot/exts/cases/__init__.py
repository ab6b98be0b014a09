"""/case: AI-ethics case studies posted, discussed and answered by groups (Task 5)."""

from bot.exts.cases._cog import CaseStudies
from bot.exts.cases._views import AnswerButton


async def setup(bot) -> None:
    """Add the case commands; answer buttons keep working after a restart."""
    bot.add_dynamic_items(AnswerButton)
    await bot.add_cog(CaseStudies(bot))
