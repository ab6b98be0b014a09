"""The table commands' cog."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import member
from bot.errors import LabError
from bot.exts.tables._export import columns_for, to_csv, to_markdown
from bot.formatting import clip, safe
from bot.groups import require_group
from bot.storage import tables

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

KINDS = [
    app_commands.Choice(name="Decoding methods", value="decoding"),
    app_commands.Choice(name="Pre-trained vs fine-tuned", value="finetune"),
]
SHOWN_ROWS = 5


class Tables(commands.Cog):
    """Group tables of Task 3 and Task 4."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    table = app_commands.Group(
        name="table", description="Your group's comparison tables.", guild_only=True
    )

    async def _rows(self, interaction: discord.Interaction, kind: str):
        group = await require_group(self.bot.db, member(interaction))
        rows = await tables.rows(self.bot.db, group.id, kind)
        if not rows:
            what = "/compare" if kind == "decoding" else "/compare with models"
            raise LabError(f"{group.name}'s table is empty: run {what} to add a row.")
        return group, rows

    @table.command(name="show")
    @app_commands.describe(kind="Which table")
    @app_commands.choices(kind=KINDS)
    async def show(self, interaction: discord.Interaction, kind: str = "decoding") -> None:
        """Show your group's table (the latest rows; /table export has them all)."""
        group, rows = await self._rows(interaction, kind)
        embed = discord.Embed(
            title=f"{group.name}: {len(rows)} prompt{'s' if len(rows) != 1 else ''}",
            colour=discord.Colour.blurple(),
        )
        for number, row in list(enumerate(rows, start=1))[-SHOWN_ROWS:]:
            prompt, _ = clip(row.prompt, 120)
            lines = []
            for key, heading in columns_for(kind):
                text, _ = clip(row.columns.get(key, "").strip(), 150)
                lines.append(f"**{heading}:** {safe(text) or '-'}")
            embed.add_field(
                name=f"{number}. {clip(safe(prompt), 250)[0]}",
                value="\n".join(lines)[:1024],
                inline=False,
            )
        if len(rows) > SHOWN_ROWS:
            embed.set_footer(text=f"Showing the last {SHOWN_ROWS}; /table export has all.")
        await interaction.response.send_message(embed=embed)

    @table.command(name="export")
    @app_commands.describe(kind="Which table")
    @app_commands.choices(kind=KINDS)
    async def export(self, interaction: discord.Interaction, kind: str = "decoding") -> None:
        """Your group's whole table as CSV and Markdown files."""
        group, rows = await self._rows(interaction, kind)
        stem = "".join(c if c.isalnum() else "-" for c in group.name.lower()).strip("-")
        files = [
            discord.File(io.BytesIO(to_csv(rows, kind).encode()), f"{stem}-{kind}.csv"),
            discord.File(
                io.BytesIO(to_markdown(rows, kind, group.name).encode()), f"{stem}-{kind}.md"
            ),
        ]
        await interaction.response.send_message(
            f"{safe(group.name)}'s table, {len(rows)} row{'s' if len(rows) != 1 else ''}.",
            files=files,
        )
