"""The table commands' cog."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import member
from bot.errors import LabError
from bot.exts.tables._export import (
    FILE_NAMES,
    TITLES,
    columns_for,
    settings_line,
    to_csv,
    to_markdown,
)
from bot.formatting import clip, safe
from bot.groups import require_group
from bot.storage import tables

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

KINDS = [  # the lab's tables: Task 3's, then Task 4's two (see bot.storage.tables.TABLES)
    app_commands.Choice(name="Decoding methods", value="decoding"),
    app_commands.Choice(name="Fine-tuned on a built-in example", value="example"),
    app_commands.Choice(name="Fine-tuned on your own sentences", value="finetune"),
]
EMPTY = {  # how to add a first row to each table
    "decoding": "run /compare to add a row",
    "example": "fine-tune on one with /finetune example, then run /compare models:... to add a row",
    "finetune": "run /compare models:... (after /finetune start, to include your fine-tuned "
    "model) to add a row",
}
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
        if kind not in tables.TABLES:
            raise LabError(f"kind must be one of {', '.join(tables.TABLES)}.")
        rows = await tables.rows(self.bot.db, group.id, kind)
        if not rows:
            raise LabError(f"{group.name}'s table is empty ({TITLES[kind]}): {EMPTY[kind]}.")
        return group, rows

    @table.command(name="show")
    @app_commands.describe(kind="Which table")
    @app_commands.choices(kind=KINDS)
    async def show(self, interaction: discord.Interaction, kind: str = "decoding") -> None:
        """Show your group's table (the latest rows; /table export has them all)."""
        group, rows = await self._rows(interaction, kind)
        embed = discord.Embed(
            title=f"{group.name}: {len(rows)} prompt{'s' if len(rows) != 1 else ''}"[:200],
            description=TITLES[kind],
            colour=discord.Colour.blurple(),
        )
        for number, row in list(enumerate(rows, start=1))[-SHOWN_ROWS:]:
            prompt, _ = clip(row.prompt, 120)
            lines = [f"*{settings_line(row)}*"]
            if row.example:
                lines.append(f"**Example dataset:** {safe(row.example)}")
            for key, heading in columns_for(kind):
                if key == "dataset":
                    continue
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
        name = f"{stem}-{FILE_NAMES[kind]}"
        files = [
            discord.File(io.BytesIO(to_csv(rows, kind).encode()), f"{name}.csv"),
            discord.File(io.BytesIO(to_markdown(rows, kind, group.name).encode()), f"{name}.md"),
        ]
        await interaction.response.send_message(
            f"{safe(group.name)}'s table ({TITLES[kind]}), "
            f"{len(rows)} row{'s' if len(rows) != 1 else ''}.",
            files=files,
        )
