"""The vote's buttons: a letter per continuation for everyone, Close for instructors.

Dynamic items, so a vote posted before the bot restarted keeps taking votes and can still
be closed; each press is checked on the server (the vote still open, an instructor closing).
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

import discord

from bot.context import lab_bot
from bot.decision_buttons import decide_as_instructor
from bot.errors import LabError, report_error
from bot.storage.votes import LETTERS

if TYPE_CHECKING:
    from bot.exts.vote._cog import ClassVotes


def _votes_cog(interaction: discord.Interaction) -> ClassVotes:
    from bot.exts.vote._cog import ClassVotes  # it imports this module

    cog = lab_bot(interaction).get_cog("ClassVotes")
    if not isinstance(cog, ClassVotes):
        raise LabError("Voting is not available right now: try again in a moment.")
    return cog


class BallotButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"vote:cast:(?P<vote>\d+):(?P<letter>[A-D])",
):
    """A vote for the continuation shown under one letter (pressing another moves it)."""

    def __init__(self, vote_id: int, letter: str) -> None:
        super().__init__(
            discord.ui.Button(
                label=letter,
                style=discord.ButtonStyle.primary,
                custom_id=f"vote:cast:{vote_id}:{letter}",
            )
        )
        self.vote_id, self.letter = vote_id, letter

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["vote"]), match["letter"])

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await _votes_cog(interaction).cast(interaction, self.vote_id, self.letter)
        except Exception as error:  # noqa: BLE001 - dynamic items have no view error hook
            await report_error(interaction, error)


class CloseButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"vote:close:(?P<vote>\d+)",
):
    """An instructor closes the vote: the message then shows which method each letter was."""

    def __init__(self, vote_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Close the vote",
                style=discord.ButtonStyle.danger,
                custom_id=f"vote:close:{vote_id}",
            )
        )
        self.vote_id = vote_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["vote"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        async def close(pressed: discord.Interaction) -> None:
            await _votes_cog(pressed).close_from_button(pressed, self.vote_id)

        await decide_as_instructor(interaction, close)


def ballot_view(vote_id: int) -> discord.ui.View:
    """A, B, C, D, then Close; never times out (a vote stays open as long as the lab)."""
    view = discord.ui.View(timeout=None)
    for letter in LETTERS:
        view.add_item(BallotButton(vote_id, letter))
    view.add_item(CloseButton(vote_id))
    return view
