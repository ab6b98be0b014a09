"""Who may join a group on a server without group roles: open, with approval, or locked.

Group roles isolate groups by themselves: Discord gives a role only to whom an instructor
gives it. Groups joined with `/group join` are only as closed as the server's joining mode:

- `open` (the default): anyone joins any group by name, as in a small trusted class.
- `approval`: a new group can be started freely, but joining a group that already has
  members posts a request that an instructor approves or declines.
- `locked`: nobody joins, starts or leaves a group; the groups stay as they are.

A group's pool, answers and models are its members' to read and change, so `approval` or
`locked` (or roles) is what keeps one group's work from another.
"""

from __future__ import annotations

import re
import sqlite3

import discord

from bot.context import lab_bot, server_id
from bot.decision_buttons import decide_as_instructor, decision_button
from bot.errors import LabError
from bot.formatting import safe
from bot.storage import groups, guild_settings
from bot.storage.database import Database

MODES = ("open", "approval", "locked")
DEFAULT_MODE = "open"


async def joining_mode(db: Database, guild_id: int) -> str:
    """The server's joining mode (an unknown stored value counts as the strictest)."""
    mode = (await guild_settings.load(db, guild_id)).get("group_joining", DEFAULT_MODE)
    return mode if mode in MODES else "locked"


def request_view(user_id: int, group_id: int) -> discord.ui.View:
    """Approve and Decline under a member's request to join a group."""
    view = discord.ui.View(timeout=None)
    view.add_item(JoinButton(user_id, group_id, "approve"))
    view.add_item(JoinButton(user_id, group_id, "decline"))
    return view


class JoinButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"group:(?P<action>approve|decline):(?P<user>\d+):(?P<group>\d+)",
):
    """An instructor lets a member into a group, or not. Works after a restart; the first
    decision wins (a member who is already in a group is not moved)."""

    def __init__(self, user_id: int, group_id: int, action: str) -> None:
        super().__init__(decision_button(action, f"group:{action}:{user_id}:{group_id}"))
        self.user_id, self.group_id, self.action = user_id, group_id, action

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["user"]), int(match["group"]), match["action"])

    async def callback(self, interaction: discord.Interaction) -> None:
        await decide_as_instructor(interaction, self._decide)

    async def _decide(self, interaction: discord.Interaction) -> None:
        db = lab_bot(interaction).db
        guild_id = server_id(interaction)
        row = await db.fetchone(
            "SELECT name FROM lab_groups WHERE id = ? AND guild_id = ?",
            (self.group_id, guild_id),
        )
        if row is None:
            raise LabError("That group no longer exists.")
        who, name = f"<@{self.user_id}>", safe(row["name"])
        if self.action == "decline":
            outcome = f"❌ Declined by {interaction.user.mention}."
        elif await groups.of_member(db, guild_id, self.user_id) is not None:
            outcome = f"Already decided: {who} is in a group now."
        else:
            try:
                await groups.join(db, guild_id, self.user_id, row["name"])
            except sqlite3.IntegrityError:  # approved twice at the same moment
                outcome = f"Already decided: {who} is in a group now."
            else:
                outcome = f"✅ Approved by {interaction.user.mention}: {who} is in **{name}**."
        request = interaction.message.content if interaction.message else ""
        await interaction.response.edit_message(content=f"{request}\n{outcome}", view=None)
