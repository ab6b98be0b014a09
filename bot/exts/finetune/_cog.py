"""The fine-tuning commands' cog: the group's sentence pool."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LabError, LabModal, LabView
from bot.exts.finetune._pool import PAGE, POOL_LIMIT, added_message, split_sentences
from bot.formatting import safe
from bot.groups import require_group
from bot.storage import pools

MAX_FILE = 200_000  # bytes of a .txt of sentences


async def add_to_pool(bot, interaction: discord.Interaction, text: str) -> str:
    """Validate and add; the reply is sent only after the sentences are committed."""
    group = await require_group(bot.db, interaction.user)
    outcome = await pools.add(
        bot.db,
        interaction.guild_id,
        group.id,
        interaction.user.id,
        split_sentences(text),
        POOL_LIMIT,
    )
    return added_message(group.name, outcome)


class PasteModal(LabModal, title="Add sentences to your pool"):
    """Many sentences at once, one per line."""

    sentences = discord.ui.TextInput(
        label="One sentence per line", style=discord.TextStyle.paragraph, max_length=4000
    )

    def __init__(self, bot) -> None:
        super().__init__()
        self.bot = bot

    async def on_submit(self, interaction: discord.Interaction) -> None:
        message = await add_to_pool(self.bot, interaction, self.sentences.value)
        await interaction.response.send_message(message)


class ConfirmClear(LabView):
    """Clearing a pool is undoable only by typing everything again: ask first."""

    def __init__(self, bot, group) -> None:
        super().__init__(timeout=120)
        self.bot, self.group = bot, group

    @discord.ui.button(label="Clear the pool", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button):
        removed = await pools.clear(self.bot.db, self.group.id)
        await interaction.response.edit_message(
            content=f"Cleared {safe(self.group.name)}'s pool ({removed} sentences removed).",
            view=None,
        )
        self.stop()

    @discord.ui.button(label="Keep it", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.edit_message(content="Nothing was removed.", view=None)
        self.stop()


class FineTuning(commands.Cog):
    """Task 4: a group's own fine-tune, starting with its sentence pool."""

    def __init__(self, bot) -> None:
        self.bot = bot

    finetune = app_commands.Group(
        name="finetune", description="Your group's fine-tune.", guild_only=True
    )

    @finetune.command(name="add")
    @app_commands.describe(text="A sentence for your group's pool")
    async def add(self, interaction: discord.Interaction, text: str) -> None:
        """Add a sentence to your group's pool."""
        await interaction.response.send_message(await add_to_pool(self.bot, interaction, text))

    @finetune.command(name="paste")
    async def paste(self, interaction: discord.Interaction) -> None:
        """Paste many sentences at once, one per line."""
        await require_group(self.bot.db, interaction.user)
        await interaction.response.send_modal(PasteModal(self.bot))

    @finetune.command(name="upload")
    @app_commands.describe(file="A .txt file with one sentence per line")
    async def upload(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Add the sentences of a .txt file, one per line."""
        if not file.filename.lower().endswith(".txt"):
            raise LabError("Upload a .txt file with one sentence per line.")
        if file.size > MAX_FILE:
            raise LabError(f"The file is too big ({file.size} bytes; at most {MAX_FILE}).")
        try:
            text = (await file.read()).decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabError("The file is not UTF-8 text: save it as plain text.") from None
        await interaction.response.send_message(await add_to_pool(self.bot, interaction, text))

    @finetune.command(name="pool")
    @app_commands.describe(page="Which page (20 sentences each)")
    async def pool(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List your group's sentences, numbered, with who added each."""
        group = await require_group(self.bot.db, interaction.user)
        items = await pools.sentences(self.bot.db, group.id)
        if not items:
            raise LabError(f"{group.name}'s pool is empty: /finetune add, paste or upload.")
        pages = (len(items) + PAGE - 1) // PAGE
        page = min(page, pages)
        start = (page - 1) * PAGE
        lines = [
            f"**{n}.** {safe(item.text)}" + (f" (<@{item.author_id}>)" if item.author_id else "")
            for n, item in enumerate(items[start : start + PAGE], start=start + 1)
        ]
        embed = discord.Embed(
            title=f"{group.name}'s pool: {len(items)} sentences",
            description="\n".join(lines)[:4000],
            colour=discord.Colour.orange(),
        )
        embed.set_footer(text=f"Page {page} of {pages}")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @finetune.command(name="remove")
    @app_commands.describe(number="The sentence's number in /finetune pool")
    async def remove(
        self, interaction: discord.Interaction, number: app_commands.Range[int, 1, 10_000]
    ) -> None:
        """Remove one sentence from your group's pool."""
        group = await require_group(self.bot.db, interaction.user)
        items = await pools.sentences(self.bot.db, group.id)
        if not 1 <= number <= len(items):
            raise LabError(f"There is no sentence {number}: the pool has {len(items)}.")
        await pools.remove(self.bot.db, items[number - 1].id)
        await interaction.response.send_message(
            f'Removed sentence {number}: "{safe(items[number - 1].text)}".'
        )

    @finetune.command(name="clear")
    async def clear(self, interaction: discord.Interaction) -> None:
        """Remove every sentence from your group's pool (asks first)."""
        group = await require_group(self.bot.db, interaction.user)
        count = len(await pools.sentences(self.bot.db, group.id))
        await interaction.response.send_message(
            f"Remove all {count} sentences from {safe(group.name)}'s pool?",
            view=ConfirmClear(self.bot, group),
            ephemeral=True,
        )
