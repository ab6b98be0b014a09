"""The fine-tuning commands' cog: the group's sentence pool."""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import LabError, LabModal, LabView
from bot.exts.finetune._follow import follow, progress_text
from bot.exts.finetune._pool import PAGE, POOL_LIMIT, added_message, split_sentences
from bot.formatting import safe
from bot.groups import require_group
from bot.storage import finetune_jobs, pools
from model_runner.api import InvalidRequest, RunnerError
from model_runner.finetune.params import FineTuneParams

log = logging.getLogger(__name__)
MIN_SENTENCES = 20  # the lab asks for 20-30

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
        self._following: set[asyncio.Task] = set()

    async def cog_load(self) -> None:
        """Once connected, pick up the runs that were going on when the bot stopped."""

        async def resume() -> None:
            await self.bot.wait_until_ready()
            for record in await finetune_jobs.running(self.bot.db):
                self._follow(record)

        self._keep(asyncio.create_task(resume(), name="finetune-resume"))

    def _keep(self, task: asyncio.Task) -> None:
        """Hold a reference until the task ends (and cancel it if the cog unloads)."""
        self._following.add(task)
        task.add_done_callback(self._following.discard)

    async def cog_unload(self) -> None:
        for task in self._following:
            task.cancel()

    def _follow(self, record) -> None:
        async def run() -> None:
            await self.bot.wait_until_ready()
            group = await self._group_name(record.group_id)
            try:
                await follow(self.bot, record, group)
            except Exception:  # noqa: BLE001 - logged; the job record keeps its state
                log.exception("following fine-tune %s failed", record.adapter)

        self._keep(asyncio.create_task(run(), name=f"follow-{record.adapter}"))

    async def _group_name(self, group_id: int) -> str:
        row = await self.bot.db.fetchone("SELECT name FROM lab_groups WHERE id = ?", (group_id,))
        return row["name"] if row else "A group"

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

    @finetune.command(name="start")
    @app_commands.describe(
        epochs="Passes over your sentences (1-20)",
        learning_rate="How big each training step is (0.00001-0.01)",
        rank="LoRA rank: how much the adapter can change (1-64)",
    )
    async def start(
        self,
        interaction: discord.Interaction,
        epochs: app_commands.Range[int, 1, 20] = 3,
        learning_rate: app_commands.Range[float, 0.00001, 0.01] = 0.002,
        rank: app_commands.Range[int, 1, 64] = 8,
    ) -> None:
        """Fine-tune the model on your group's pool (LoRA), with live progress."""
        group = await require_group(self.bot.db, interaction.user)
        items = await pools.sentences(self.bot.db, group.id)
        if len(items) < MIN_SENTENCES:
            raise LabError(
                f"{group.name}'s pool has {len(items)} sentences; a fine-tune needs "
                f"at least {MIN_SENTENCES}. Add more with /finetune add or paste."
            )
        try:
            params = FineTuneParams(epochs=epochs, learning_rate=learning_rate, rank=rank)
        except InvalidRequest as error:
            raise LabError(str(error)) from None
        sentences = [item.text for item in items]
        try:
            record = await finetune_jobs.create(
                self.bot.db,
                guild_id=interaction.guild_id,
                group_id=group.id,
                started_by=interaction.user.id,
                sentences=sentences,
                params=params.to_dict(),
                channel_id=interaction.channel_id,
            )
        except RuntimeError:
            raise LabError(f"{group.name} is already fine-tuning: wait for it to finish.") from None
        await interaction.response.send_message(
            f"{safe(group.name)} v{record.version}: fine-tuning on {len(sentences)} sentences "
            f"({epochs} epochs, learning rate {learning_rate:g}, rank {rank}). Progress below."
        )
        try:
            await self.bot.runner.start_finetune(record.adapter, sentences, params)
        except RunnerError as error:
            await finetune_jobs.finish(self.bot.db, record.id, "failed", str(error))
            raise
        message = await interaction.channel.send(
            progress_text(f"{group.name} v{record.version}", 0, 0, [], None)
        )
        await finetune_jobs.set_message(self.bot.db, record.id, message.id)
        self._follow(await self._record(record.id))

    async def _record(self, job_id: int):
        return next(r for r in await finetune_jobs.running(self.bot.db) if r.id == job_id)

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
