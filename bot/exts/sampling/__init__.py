"""/generate, /compare, /sampler and /beamtree: the lab's Task 3, decoding methods side by
side and two of them step by step."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.exts.sampling._beamtree import BeamTree, BeamTreeButton
from bot.exts.sampling._cog import Sampling

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


async def setup(bot: LabBot) -> None:
    """Add the decoding commands; Beam tree buttons keep working after a restart."""
    bot.add_dynamic_items(BeamTreeButton)
    await bot.add_cog(Sampling(bot))
    await bot.add_cog(BeamTree(bot))
