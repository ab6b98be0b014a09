"""/group: join or leave a lab group on servers that do not use group roles."""

from bot.exts.groups._cog import Groups
from bot.exts.groups._joining import JoinButton


async def setup(bot) -> None:
    """Add the group commands; join requests' buttons keep working after a restart."""
    bot.add_dynamic_items(JoinButton)
    await bot.add_cog(Groups(bot))
