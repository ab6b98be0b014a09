"""/finetune: a group pools sentences for its own fine-tune (Task 4)."""

from bot.exts.finetune._cog import FineTuning


async def setup(bot) -> None:
    """Add the fine-tuning commands."""
    await bot.add_cog(FineTuning(bot))
