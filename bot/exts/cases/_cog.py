"""The case-study commands' cog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import member, server_id
from bot.errors import LabError
from bot.exts.cases._catalogue import available, find
from bot.exts.cases._render import answers_embeds, case_embed, export_files
from bot.exts.cases._views import CreateCaseModal, answer_view
from bot.formatting import clip, quoted, safe
from bot.groups import require_group
from bot.permissions import INSTRUCTOR, check_instructor_subcommand, is_instructor
from bot.storage import answers
from bot.storage import cases as case_store
from bot.storage import groups as group_store
from bot.storage.groups import LabGroup

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


class CaseStudies(commands.Cog):
    """Task 5: ethics case studies answered by groups."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    case = app_commands.Group(name="case", description="AI-ethics case studies.", guild_only=True)

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Instructor subcommands are checked on the server (Discord cannot hide subcommands)."""
        return check_instructor_subcommand(interaction)

    @case.command(name="list")
    async def list_cases(self, interaction: discord.Interaction) -> None:
        """The case studies you can choose from, and the lab tasks' discussion questions."""
        cases = await available(self.bot, server_id(interaction))

        def lines(kind: str) -> str:
            return "\n".join(
                f"`{c.id}` **{safe(c.title)}**: {safe(clip(c.summary, 160)[0])}"
                for c in cases.values()
                if c.kind == kind
            )

        embed = discord.Embed(
            title="Case studies",
            description=lines("ethics")[:3000],
            colour=discord.Colour.from_rgb(235, 69, 158),
        )
        tasks = lines("lab-task")
        if tasks:
            embed.add_field(
                name="Lab tasks: discussion questions for every group", value=tasks[:1024]
            )
        embed.set_footer(
            text="Read one with /case show; pick a case study for your group with /case choose"
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @case.command(name="show")
    @app_commands.describe(case="The case's id (see /case list)")
    async def show(self, interaction: discord.Interaction, case: str) -> None:
        """Read a case study and its discussion questions."""
        found = await find(self.bot, server_id(interaction), case)
        await interaction.response.send_message(embed=case_embed(found), ephemeral=True)

    @case.command(name="choose")
    @app_commands.describe(case="The case your group discusses")
    async def choose(self, interaction: discord.Interaction, case: str) -> None:
        """Record which case your group chose."""
        guild_id = server_id(interaction)
        found = await find(self.bot, guild_id, case)
        if found.kind == "lab-task":
            raise LabError(
                "Every group answers the lab tasks' questions: use the Answer buttons under the "
                "post your instructor made. /case choose is for the ethics case studies."
            )
        group = await require_group(self.bot.db, member(interaction))
        await case_store.choose(self.bot.db, guild_id, group.id, found.id, interaction.user.id)
        await interaction.response.send_message(
            f"**{safe(group.name)}** chose **{safe(found.title)}**."
        )

    @case.command(name="post", extras=INSTRUCTOR)
    @app_commands.describe(case="The case to post", channel="Where (default: here)")
    async def post(
        self,
        interaction: discord.Interaction,
        case: str,
        channel: discord.TextChannel | None = None,
    ) -> None:
        """Post a case with an Answer button per question, and open a discussion thread."""
        found = await find(self.bot, server_id(interaction), case)
        target = channel or interaction.channel
        if not isinstance(target, discord.TextChannel):  # a thread cannot hold the discussion
            raise LabError("Cases are posted in a text channel: run this in one, or pick one.")
        await interaction.response.defer(ephemeral=True, thinking=True)
        message = await target.send(embed=case_embed(found), view=answer_view(found))
        thread = await message.create_thread(name=clip(f"Discussion: {found.title}", 100)[0])
        await thread.send(
            "Discuss the case here as a group, then answer each question with the buttons "
            "under the case. Anyone in a group can write or edit the group's answer."
        )
        await interaction.followup.send(
            f"Posted {safe(found.title)} in {target.mention}.", ephemeral=True
        )

    @case.command(name="create", extras=INSTRUCTOR)
    async def create(self, interaction: discord.Interaction) -> None:
        """Write a new case study for this server."""
        await interaction.response.send_modal(CreateCaseModal(self.bot, interaction.user.id))

    @case.command(name="answers")
    @app_commands.describe(
        case="The case (default: your group's choice)",
        group="Another group (instructors, or once answers are revealed)",
    )
    async def show_answers(
        self, interaction: discord.Interaction, case: str | None = None, group: str | None = None
    ) -> None:
        """Read your group's answers (instructors: every group's)."""
        guild_id = server_id(interaction)
        instructor = is_instructor(interaction)
        own = None if instructor and group is None else await self._own_group(interaction)
        if case is None:
            if own is None:
                raise LabError("Name the case: /case answers case:<id>.")
            chosen = (await case_store.chosen(self.bot.db, guild_id)).get(own.id)
            if chosen is None:
                raise LabError("Your group has not chosen a case: /case choose, or name one.")
            case = chosen
        found = await find(self.bot, guild_id, case)
        state = await case_store.state(self.bot.db, guild_id, found.id)
        target = own
        if group is not None:
            target = await group_store.find(self.bot.db, guild_id, group)
            if target is None:
                raise LabError(f"No group called {quoted(group)}.")
            if not instructor and not state.revealed and (own is None or own.id != target.id):
                raise LabError(
                    "You can read other groups' answers once your instructor reveals them."
                )
        revisions = await answers.latest(
            self.bot.db, guild_id, found.id, target.id if target else None
        )
        if not revisions:
            raise LabError("No answers yet.")
        embeds = answers_embeds(found, revisions, found.title)
        await interaction.response.send_message(embeds=embeds, ephemeral=True)

    async def _own_group(self, interaction: discord.Interaction) -> LabGroup | None:
        try:
            return await require_group(self.bot.db, member(interaction))
        except LabError:
            if is_instructor(interaction):
                return None
            raise

    @case.command(name="reveal", extras=INSTRUCTOR)
    @app_commands.describe(case="Show every group's answers to the class")
    async def reveal(self, interaction: discord.Interaction, case: str) -> None:
        """Post all groups' answers for the class to read."""
        guild_id = server_id(interaction)
        found = await find(self.bot, guild_id, case)
        await case_store.set_state(self.bot.db, guild_id, found.id, revealed=True)
        revisions = await answers.latest(self.bot.db, guild_id, found.id)
        if not revisions:
            raise LabError("No group has answered yet.")
        await interaction.response.send_message(
            content=f"Every group's answers to **{safe(found.title)}**:",
            embeds=answers_embeds(found, revisions, found.title),
            files=export_files(found, revisions, history=False)[1:],
        )

    @case.command(name="export", extras=INSTRUCTOR)
    @app_commands.describe(case="The case", history="Every version of every answer")
    async def export(
        self, interaction: discord.Interaction, case: str, history: bool = False
    ) -> None:
        """Download the answers as CSV and Markdown."""
        guild_id = server_id(interaction)
        found = await find(self.bot, guild_id, case)
        if history:
            revisions = await answers.history(self.bot.db, guild_id, found.id)
        else:
            revisions = await answers.latest(self.bot.db, guild_id, found.id)
        groups_answered = len({r.group_id for r in revisions})
        await interaction.response.send_message(
            f"{safe(found.title)}: {groups_answered} groups, {len(revisions)} "
            f"{'versions' if history else 'answers'}.",
            files=export_files(found, revisions, history),
            ephemeral=True,
        )

    @case.command(name="close", extras=INSTRUCTOR)
    @app_commands.describe(case="Stop accepting answers")
    async def close(self, interaction: discord.Interaction, case: str) -> None:
        """Stop groups from answering or editing."""
        guild_id = server_id(interaction)
        found = await find(self.bot, guild_id, case)
        await case_store.set_state(self.bot.db, guild_id, found.id, closed=True)
        await interaction.response.send_message(f"Answering **{safe(found.title)}** is closed.")

    @case.command(name="reopen", extras=INSTRUCTOR)
    @app_commands.describe(case="Accept answers again")
    async def reopen(self, interaction: discord.Interaction, case: str) -> None:
        """Let groups answer and edit again."""
        guild_id = server_id(interaction)
        found = await find(self.bot, guild_id, case)
        await case_store.set_state(self.bot.db, guild_id, found.id, closed=False)
        await interaction.response.send_message(f"Answering **{safe(found.title)}** is open again.")
