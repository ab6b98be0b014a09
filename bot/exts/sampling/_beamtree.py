"""/beamtree, and the Beam tree button under a /compare result: beam search step by step.

Both trace the search /generate runs with method beam (the runner's `BeamTrace`): the tree
for a prompt with the same settings ends in the same text as `/generate method:5-Beam`. Like
/explain and /sampler they show how a method works, so they open once the instructor has
revealed 5-Beam; groups guess first. The button works after a restart: its id names the
/compare row it belongs to, whose prompt the group's table keeps.
"""

from __future__ import annotations

import asyncio
import io
import re
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.charts import beam_tree_chart
from bot.context import lab_bot, server_id
from bot.errors import LabError, report_error
from bot.exts.sampling._checks import check_prompt, decoding_params
from bot.exts.sampling._tree import CHART, alt_text, prompt_tail, tree_columns, tree_embed
from bot.permissions import is_instructor
from bot.progress import show_queue
from bot.storage import guild_settings, tables
from model_runner.protocol import BeamTrace, DecodingParams

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

MAX_TOKENS = 10  # steps a tree may have: wider than this, nobody can read it in Discord
DEFAULT_TOKENS = 6
MAX_BEAMS = 6  # 2 x num_beams rows per step
BUTTON_STEPS = 8  # the button under /compare draws the first steps of the 5-Beam column's search


async def beam_revealed(bot: LabBot, guild_id: int) -> bool:
    """Whether the instructor has revealed how beam search works on this server."""
    return "beam" in (await guild_settings.load(bot.db, guild_id)).get("revealed", [])


async def check_revealed(bot: LabBot, interaction: discord.Interaction) -> None:
    """Groups guess first: the tree opens when 5-Beam is revealed (instructors may look)."""
    if not await beam_revealed(bot, server_id(interaction)) and not is_instructor(interaction):
        raise LabError(
            "Not yet! The beam tree shows how 5-Beam works, so it opens when your instructor "
            "reveals it (/lab reveal). First guess, as a group, from /compare and /generate."
        )


async def send_beam_tree(
    bot: LabBot, interaction: discord.Interaction, prompt: str, params: DecodingParams, note=""
) -> None:
    """Trace the search, then answer with the tree and its text (deferred: the model works)."""
    await bot.policy.admit(interaction, params.max_new_tokens)
    await interaction.response.defer(thinking=True)
    await show_queue(bot, interaction)
    result = await bot.runner.call(BeamTrace(prompt, params))
    title = f"{params.num_beams}-beam search: the beams kept at each step, best at the top"
    chart = await asyncio.to_thread(
        beam_tree_chart, prompt_tail(prompt), tree_columns(result), title
    )
    picture = discord.File(io.BytesIO(chart), filename=CHART, description=alt_text(result))
    await interaction.edit_original_response(
        content=None, embed=tree_embed(result, note), attachments=[picture]
    )


class BeamTreeButton(
    discord.ui.DynamicItem[discord.ui.Button], template=r"beamtree:row:(?P<row>\d+)"
):
    """'Beam tree' under a /compare result: the 5-Beam column's search for its prompt."""

    def __init__(self, row_id: int) -> None:
        super().__init__(
            discord.ui.Button(
                label="Beam tree",
                style=discord.ButtonStyle.secondary,
                custom_id=f"beamtree:row:{row_id}",
            )
        )
        self.row_id = row_id

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(int(match["row"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._draw(interaction)
        except Exception as error:  # noqa: BLE001 - dynamic items have no view error hook
            await report_error(interaction, error)

    async def _draw(self, interaction: discord.Interaction) -> None:
        bot = lab_bot(interaction)
        row = await tables.row(bot.db, server_id(interaction), self.row_id)
        if row is None:
            raise LabError("This comparison is no longer stored: use /beamtree with its prompt.")
        await check_revealed(bot, interaction)
        asked = row.max_tokens or BUTTON_STEPS
        steps = min(asked, BUTTON_STEPS, bot.settings.runner.max_new_tokens)
        params = decoding_params(
            bot.settings.runner.max_new_tokens, method="beam", max_new_tokens=steps, num_beams=5
        )
        note = (
            f"The first {steps} of the 5-Beam column's {asked} steps: a search that may write "
            f"only {steps} tokens ends here (/beamtree max_tokens to choose)."
            if steps < asked
            else "The 5-Beam column's search, step by step."
        )
        await send_beam_tree(bot, interaction, row.prompt, params, note)


def beam_tree_view(row_id: int) -> discord.ui.View:
    """The Beam tree button, for a /compare result saved as row `row_id`."""
    view = discord.ui.View(timeout=None)
    view.add_item(BeamTreeButton(row_id))
    return view


class BeamTree(commands.Cog):
    """Task 3: why beam search plays it safe."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    @app_commands.command(name="beamtree")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="The text the model should continue",
        max_tokens=f"How many tokens (steps) the search adds (1-{MAX_TOKENS})",
        num_beams=f"How many continuations it keeps at each step (2-{MAX_BEAMS})",
    )
    async def beamtree(
        self,
        interaction: discord.Interaction,
        prompt: str,
        max_tokens: app_commands.Range[int, 1, MAX_TOKENS] = DEFAULT_TOKENS,
        num_beams: app_commands.Range[int, 2, MAX_BEAMS] = 5,
    ) -> None:
        """See beam search at work: the beams it keeps, the ones it drops, the winner."""
        check_prompt(prompt)
        await check_revealed(self.bot, interaction)
        params = decoding_params(
            self.bot.settings.runner.max_new_tokens,
            method="beam",
            max_new_tokens=max_tokens,
            num_beams=num_beams,
        )
        same = f"/generate method:5-Beam max_tokens:{max_tokens}" + (
            f" num_beams:{num_beams}" if num_beams != 5 else ""
        )
        await send_beam_tree(
            self.bot, interaction, prompt, params, f"The same text as {same} with this prompt."
        )
