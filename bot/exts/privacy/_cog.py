"""The privacy commands' cog."""

from __future__ import annotations

import io
import json
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LabView
from bot.formatting import counted
from bot.storage import privacy

if TYPE_CHECKING:
    from bot.lab_bot import LabBot


# What each count of `privacy.delete_user` counts, as the reply names it (singular, plural).
COUNTED = {
    "answers_anonymised": ("answer", "answers"),
    "comparisons_anonymised": ("table row", "table rows"),
    "sentences_anonymised": ("pool sentence", "pool sentences"),
    "choices_anonymised": ("case choice", "case choices"),
    "cases_anonymised": ("case you wrote", "cases you wrote"),
    "runs_anonymised": ("fine-tune you started", "fine-tunes you started"),
    "approvals_anonymised": ("fine-tune you approved", "fine-tunes you approved"),
    "step_throughs_anonymised": ("step-through you started", "step-throughs you started"),
    "step_tokens_anonymised": ("step-through token you chose", "step-through tokens you chose"),
    "votes_opened_anonymised": ("class vote you opened", "class votes you opened"),
    "votes_closed_anonymised": ("class vote you closed", "class votes you closed"),
    "alignments_anonymised": ("alignment you started", "alignments you started"),
}


def deleted_text(counts: dict[str, int]) -> str:
    """`You left 1 group. Your name is gone from 3 answers and 1 case choice.`, in the right
    number for each count; counts of zero are left out."""
    parts = []
    if counts.get("groups_left"):
        parts.append(f"You left {counted(counts['groups_left'], 'group')}.")
    if deleted := counts.get("votes_deleted", 0):
        verb = "was" if deleted == 1 else "were"
        parts.append(f"Your {counted(deleted, 'class vote')} {verb} deleted.")
    names = []
    for name, n in counts.items():
        if n and name not in ("groups_left", "votes_deleted"):
            plain = name.removesuffix("_anonymised").replace("_", " ")
            names.append(counted(n, *COUNTED.get(name, (plain, plain))))
    if names:
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        parts.append(f"Your name is gone from {listed}.")
    return " ".join(parts) or "There was nothing stored about you."


class ConfirmDelete(LabView):
    """A last chance before deleting."""

    def __init__(self, bot: LabBot, user_id: int) -> None:
        super().__init__(timeout=120)
        self.bot, self.user_id = bot, user_id

    @discord.ui.button(label="Delete my data", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button):
        if interaction.user.id != self.user_id:
            await interaction.response.send_message("This button is not yours.", ephemeral=True)
            return
        counts = await privacy.delete_user(self.bot.db, self.user_id)  # committed first
        await interaction.response.edit_message(
            content=f"Deleted. {deleted_text(counts)} Your group's answers stay, without your name.",
            view=None,
        )
        self.stop()

    @discord.ui.button(label="Keep it", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.edit_message(content="Nothing was deleted.", view=None)
        self.stop()


class Privacy(commands.Cog):
    """Your data."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    privacy_group = app_commands.Group(name="privacy", description="Your data in the bot.")

    @privacy_group.command(name="export")
    async def export(self, interaction: discord.Interaction) -> None:
        """Everything the bot stores about you, as a JSON file (only you see it)."""
        data = await privacy.export_user(self.bot.db, interaction.user.id)
        file = discord.File(io.BytesIO(json.dumps(data, indent=2).encode()), "my-data.json")
        await interaction.response.send_message(
            "Everything the bot stores about you:", file=file, ephemeral=True
        )

    @privacy_group.command(name="delete")
    async def delete(self, interaction: discord.Interaction) -> None:
        """Delete your personal data (your group's answers stay, anonymised)."""
        await interaction.response.send_message(
            "This removes your group memberships, your class votes, and your name from "
            "your answers, table rows, pool sentences, fine-tunes, step-throughs and "
            "the votes you opened or closed. The group's work and closed votes' results "
            "stay, without your name. Sure?",
            view=ConfirmDelete(self.bot, interaction.user.id),
            ephemeral=True,
        )
