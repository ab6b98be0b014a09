"""The class vote's cog: open, vote, close, the results and their export, and aligning the
model with them (DPO)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot import seeds
from bot.charts import vote_tally_chart
from bot.context import server_id
from bot.errors import LabError
from bot.exts.vote._aligning import AlignmentRuns, title
from bot.exts.vote._board import VoteBoard
from bot.exts.vote._buttons import ballot_view
from bot.exts.vote._export import to_csv, to_markdown
from bot.exts.vote._pairs import preference_pairs
from bot.exts.vote._render import (
    aligned_embed,
    ballot_file,
    closed_embed,
    method_name,
    open_embed,
    results_embed,
)
from bot.exts.vote._sources import check_prompt, from_prompt, from_table_row
from bot.exts.vote._tally import class_results
from bot.permissions import INSTRUCTOR, check_instructor_subcommand
from bot.storage import alignments, votes
from bot.storage.votes import ClassVote, VoteClosed
from model_runner.protocol import (
    COMPARE_METHODS,
    LAB_SETTINGS,
    AlignmentParams,
    DecodingMethod,
    DecodingParams,
    Generate,
    InvalidRequest,
)
from model_runner.protocol.together import all_or_none

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

CHART = "class-votes.png"
WHAT_TO_VOTE_ON = (
    "Give a prompt (the four decoding methods run on it now), or a group and a row of that "
    "group's decoding-methods table (/table show), not both."
)


class ClassVotes(commands.Cog):
    """Task 3 for the whole class: a blind vote on the most coherent decoding method."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot
        self.board = VoteBoard(bot)
        self.alignment = AlignmentRuns(bot)

    async def cog_load(self) -> None:
        """Once connected, pick up an alignment run that was training when the bot stopped."""
        self.alignment.start()

    async def cog_unload(self) -> None:
        self.board.stop()
        self.alignment.stop()

    vote = app_commands.Group(
        name="vote", description="The class's blind vote on decoding methods.", guild_only=True
    )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Instructor subcommands are checked on the server (Discord cannot hide subcommands)."""
        return check_instructor_subcommand(interaction)

    # --- opening ----------------------------------------------------------------------------

    @vote.command(name="open", extras=INSTRUCTOR)
    @app_commands.describe(
        prompt="The prompt the four decoding methods continue for the vote",
        max_tokens="How many tokens each method adds",
        seed="Random Sampling's seed (default: a new one)",
        group="Instead of a prompt: the group whose table row to vote on",
        row="Instead of a prompt: the row's number in that group's /table show",
    )
    async def open(
        self,
        interaction: discord.Interaction,
        prompt: str | None = None,
        max_tokens: app_commands.Range[int, 1, 1024] = 30,
        seed: app_commands.Range[int, 0, 2_147_483_647] | None = None,
        group: str | None = None,
        row: app_commands.Range[int, 1, 10_000] | None = None,
    ) -> None:
        """Put one prompt's four decoding methods to a blind vote of the class."""
        guild_id = server_id(interaction)
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            raise LabError("Open a vote in a text channel or a thread of one.")
        if prompt is not None and (group is not None or row is not None):
            raise LabError(WHAT_TO_VOTE_ON)
        if prompt is None:
            if group is None or row is None:
                raise LabError(WHAT_TO_VOTE_ON)
            await interaction.response.defer(ephemeral=True, thinking=True)
            found = await from_table_row(self.bot.db, guild_id, group, row)
        else:
            check_prompt(prompt, max_tokens, self.bot.settings.runner.max_new_tokens)
            if seed is None:  # chosen here, so that the vote records which seed made it
                seed = seeds.fresh_seed()
            await self.bot.policy.admit(interaction, max_tokens)
            await interaction.response.defer(ephemeral=True, thinking=True)
            found = await from_prompt(self.bot.runner, prompt, max_tokens, seed)
        vote = await votes.open_vote(
            self.bot.db,
            guild_id=guild_id,
            prompt=found.prompt,
            outputs=found.outputs,
            letters=random.sample(COMPARE_METHODS, len(COMPARE_METHODS)),
            model=found.model,
            max_tokens=found.max_tokens,
            seed=found.seed,
            channel_id=channel.id,
            opened_by=interaction.user.id,
            source=found.source,
        )
        file = ballot_file(vote)
        try:
            message = await channel.send(
                embed=open_embed(vote, 0),
                view=ballot_view(vote.id),
                files=[file] if file else [],
            )
        except discord.HTTPException:
            await votes.withdraw(self.bot.db, vote.id)
            raise LabError(
                "The vote could not be posted in this channel: check that the bot may send "
                "messages here, or open it in another channel."
            ) from None
        await votes.set_message(self.bot.db, vote.id, message.id)
        await interaction.edit_original_response(
            content=f"Vote {vote.number} is open below. Close it with its Close button or "
            f"/vote close number:{vote.number}: that shows which method wrote which "
            "continuation, and the votes."
        )

    # --- voting -----------------------------------------------------------------------------

    async def _vote_here(self, interaction: discord.Interaction, vote_id: int) -> ClassVote:
        vote = await votes.get(self.bot.db, vote_id)
        if vote is None or vote.guild_id != server_id(interaction):
            raise LabError("This vote no longer exists.")
        return vote

    async def cast(self, interaction: discord.Interaction, vote_id: int, letter: str) -> None:
        """A student pressed a letter: their one ballot goes there (told only to them)."""
        vote = await self._vote_here(interaction, vote_id)
        try:
            ballot = await votes.cast(self.bot.db, vote.id, interaction.user.id, letter)
        except VoteClosed:
            raise LabError(
                "This vote is closed: its message shows the results, and /vote results the "
                "class's tally."
            ) from None
        if ballot.previous is None:
            text = (
                f"Your vote: **{letter}**. Press another letter to change it until the vote closes."
            )
        elif ballot.previous == letter:
            text = (
                f"You have already voted for **{letter}**: each student has one vote. Press "
                "another letter to change it."
            )
        else:
            text = f"Your vote moved from **{ballot.previous}** to **{letter}**."
        await interaction.response.send_message(text, ephemeral=True)
        if ballot.previous is None:
            self.board.voted(vote.id)  # only a new voter changes the count shown

    # --- closing ----------------------------------------------------------------------------

    @vote.command(name="close", extras=INSTRUCTOR)
    @app_commands.describe(number="Which vote (default: the newest open one)")
    async def close(
        self,
        interaction: discord.Interaction,
        number: app_commands.Range[int, 1, 100_000] | None = None,
    ) -> None:
        """Close a vote: show which method wrote each continuation, and the class's votes."""
        guild_id = server_id(interaction)
        if number is None:
            still_open = await votes.open_votes(self.bot.db, guild_id)
            if not still_open:
                raise LabError("There is no open vote: /vote open starts one.")
            vote = still_open[0]
        else:
            found = await votes.by_number(self.bot.db, guild_id, number)
            if found is None:
                raise LabError(f"There is no vote {number}.")
            vote = found
        await interaction.response.defer(thinking=True)
        closed = await self._close(vote.id, interaction.user.id)
        if closed is None:
            raise LabError(f"Vote {vote.number} is already closed: /vote results.")
        await interaction.edit_original_response(embed=closed_embed(closed))
        if closed.message_id is not None:  # the vote's own message shows the results too
            async with self.board.lock(closed.id):
                channel = self.bot.get_partial_messageable(closed.channel_id)
                # Deleted or out of reach: the reply above has the results.
                with contextlib.suppress(discord.HTTPException):
                    await channel.get_partial_message(closed.message_id).edit(
                        embed=closed_embed(closed),
                        view=None,
                        allowed_mentions=discord.AllowedMentions.none(),
                    )

    async def _close(self, vote_id: int, closer: int) -> ClassVote | None:
        async with self.board.lock(vote_id):
            return await votes.close(self.bot.db, vote_id, closer)

    async def close_from_button(self, interaction: discord.Interaction, vote_id: int) -> None:
        """An instructor pressed Close: the vote's message turns into its results."""
        vote = await self._vote_here(interaction, vote_id)
        await interaction.response.defer()
        async with self.board.lock(vote.id):
            closed = await votes.close(self.bot.db, vote.id, interaction.user.id)
            if closed is None:
                raise LabError(f"Vote {vote.number} is already closed.")
            await interaction.edit_original_response(embed=closed_embed(closed), view=None)

    # --- the class's results ----------------------------------------------------------------

    @vote.command(name="results")
    async def results(self, interaction: discord.Interaction) -> None:
        """The class's votes over every closed vote: which method was the most coherent?"""
        closed = await votes.closed_votes(self.bot.db, server_id(interaction))
        if not closed:
            raise LabError(
                "No vote has closed yet: the results appear once your instructor closes one."
            )
        tally = class_results(closed)
        await interaction.response.defer(thinking=True)
        chart = await asyncio.to_thread(
            vote_tally_chart,
            [method_name(r.method) for r in tally],
            [r.votes for r in tally],
            [r.won for r in tally],
            f"The class's votes over {len(closed)} prompt{'s' if len(closed) != 1 else ''}",
        )
        embed = results_embed(tally, closed)
        embed.set_image(url=f"attachment://{CHART}")
        await interaction.edit_original_response(
            embed=embed, attachments=[discord.File(io.BytesIO(chart), filename=CHART)]
        )

    @vote.command(name="export")
    async def export(self, interaction: discord.Interaction) -> None:
        """Every closed vote as CSV and Markdown: outputs, methods, votes, winners."""
        closed = await votes.closed_votes(self.bot.db, server_id(interaction))
        if not closed:
            raise LabError("No vote has closed yet: there is nothing to export.")
        files = [
            discord.File(io.BytesIO(to_csv(closed).encode()), "class-votes.csv"),
            discord.File(
                io.BytesIO(to_markdown(closed, class_results(closed)).encode()), "class-votes.md"
            ),
        ]
        await interaction.response.send_message(
            f"The class's {len(closed)} closed vote{'s' if len(closed) != 1 else ''}, "
            f"{sum(v.voters for v in closed)} ballots in all.",
            files=files,
        )

    # --- alignment from the class's votes (DPO) ---------------------------------------------

    @vote.command(name="align", extras=INSTRUCTOR)
    @app_commands.describe(
        epochs="Passes over the preference pairs (1-20)",
        beta="How close to the pre-trained model it stays: larger is closer (0.01-1)",
    )
    async def align(
        self,
        interaction: discord.Interaction,
        epochs: app_commands.Range[int, 1, 20] = 3,
        beta: app_commands.Range[float, 0.01, 1.0] = 0.1,
    ) -> None:
        """Align the model with the class's closed votes (DPO, the RLHF stage), with progress."""
        guild_id = server_id(interaction)
        channel = interaction.channel
        if not isinstance(channel, discord.TextChannel | discord.Thread):
            raise LabError("Start the alignment in a text channel or a thread of one.")
        data = preference_pairs(await votes.closed_votes(self.bot.db, guild_id))
        if not data.pairs:
            raise LabError(
                "No closed vote has a single winner yet, so there is no preference to learn "
                "(a tie, or a vote nobody voted in, gives none): /vote open, then /vote close."
            )
        try:
            params = AlignmentParams(epochs=epochs, beta=beta)
        except InvalidRequest as error:
            raise LabError(str(error)) from None
        await interaction.response.defer(thinking=True)
        try:
            run = await alignments.create(
                self.bot.db,
                guild_id=guild_id,
                started_by=interaction.user.id,
                votes=data.votes,
                pairs=[pair.to_dict() for pair in data.pairs],
                params=params.to_dict(),
                channel_id=channel.id,
            )
        except alignments.AlignmentActive:
            raise LabError(
                "The class's model is already being aligned: wait for that run to finish."
            ) from None
        skipped = (
            f" Votes {', '.join(map(str, data.skipped))} gave none (a tie for first, or no votes)."
            if data.skipped
            else ""
        )
        try:
            await interaction.edit_original_response(
                content=f"**{title(run)}**: aligning the model with the class's votes by DPO "
                f"(beta {beta:g}, {epochs} epoch{'s' if epochs != 1 else ''}) on "
                f"{len(data.pairs)} preference pairs from votes {', '.join(map(str, data.votes))}: "
                f"each vote's winner preferred to each other continuation.{skipped} "
                "Progress below."
            )
        except discord.HTTPException:
            await alignments.finish(self.bot.db, run.id, "cancelled", "not announced")
            raise
        await self.alignment.launch(run)

    @vote.command(name="compare")
    @app_commands.describe(
        prompt="The text both models continue",
        max_tokens="How many tokens each adds",
        method="The decoding method both use (default Greedy)",
        version="Which class-aligned version (default: the latest)",
    )
    @app_commands.choices(
        method=[app_commands.Choice(name=method_name(m), value=m) for m in COMPARE_METHODS]
    )
    async def compare(
        self,
        interaction: discord.Interaction,
        prompt: str,
        max_tokens: app_commands.Range[int, 1, 1024] = 30,
        method: str = "greedy",
        version: app_commands.Range[int, 1, 10_000] | None = None,
    ) -> None:
        """The pre-trained model beside the one aligned with the class's votes, on a prompt."""
        guild_id = server_id(interaction)
        runs = await alignments.finished(self.bot.db, guild_id)
        if not runs:
            raise LabError(
                "The class has no aligned model yet: an instructor runs /vote align once "
                "votes have closed."
            )
        run = next((r for r in runs if version in (None, r.version)), None)
        if run is None:
            have = ", ".join(str(r.version) for r in reversed(runs))
            raise LabError(f"There is no class-aligned version {version}: there is {have}.")
        check_prompt(prompt, max_tokens, self.bot.settings.runner.max_new_tokens)
        try:
            params = DecodingParams(
                method=DecodingMethod(method),  # one of the choices (checked before it runs)
                max_new_tokens=max_tokens,
                **LAB_SETTINGS.get(method, {}),
                **({"seed": seeds.fresh_seed()} if method == "sampling" else {}),
            )
        except InvalidRequest as error:
            raise LabError(str(error)) from None
        await self.bot.policy.admit(interaction, max_tokens)
        await interaction.response.defer(thinking=True)
        base, aligned = await all_or_none(
            self.bot.runner.call(Generate(prompt, params)),
            self.bot.runner.call(Generate(prompt, params, run.adapter)),
        )
        await interaction.edit_original_response(
            embed=aligned_embed(prompt, method, base, aligned, title(run), len(run.pairs))
        )
