"""/vote: the class's blind vote on the four decoding methods (Task 3 for the whole class)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.vote._buttons import BallotButton, CloseButton
from bot.exts.vote._cog import ClassVotes

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the vote commands; a vote's buttons keep working after a restart."""
    bot.add_dynamic_items(BallotButton, CloseButton)
    await bot.add_cog(ClassVotes(bot))
