"""The fine-tuning commands' cog: the group's sentence pool."""

from __future__ import annotations

import contextlib
import io
import logging
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import member, server_id
from bot.errors import LabError, LabModal, LabView
from bot.exts.finetune._examples import load_examples
from bot.exts.finetune._pool import PAGE, POOL_LIMIT, Listings, added_message, split_sentences
from bot.exts.finetune._review import approval_required, review_view
from bot.exts.finetune._runs import Runs
from bot.fine_tuned import describe, held_out_perplexity
from bot.formatting import clip, counted, file_size, quoted, safe
from bot.groups import group_of, require_group
from bot.permissions import is_instructor, only_opener
from bot.storage import finetune_jobs, groups, pools
from bot.storage.groups import LabGroup
from bot.word_list import blocked_word, blocked_words
from model_runner.protocol import AdapterArchive, FineTuneParams, InvalidRequest

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)
MIN_SENTENCES = 20  # the lab asks for 20-30

MAX_FILE = 200_000  # bytes of a .txt of sentences
MAX_UPLOAD = 10 * 1024 * 1024  # Discord's attachment limit on servers without boosts
EXAMPLES = [
    app_commands.Choice(name=example.title[:100], value=example.id)
    for example in load_examples().values()
]


async def add_to_pool(bot: LabBot, interaction: discord.Interaction, text: str) -> None:
    """Validate, acknowledge, commit, then reply: a refusal stays private (before the
    acknowledgement), and the reply says "added" only once the sentences are committed."""
    guild_id = server_id(interaction)
    group = await require_group(bot.db, member(interaction))
    sentences = split_sentences(text)
    words = await blocked_words(bot.db, guild_id)
    blocked = [n for n, s in enumerate(sentences, 1) if blocked_word(s, words)]
    allowed = [s for n, s in enumerate(sentences, 1) if n not in blocked]
    refusal = ""
    if blocked:
        which = "That sentence" if len(sentences) == 1 else f"Sentence {_numbers(blocked)}"
        refusal = (
            f"{which} uses a word your instructor has blocked for fine-tuning, so it was not added."
        )
        if not allowed:
            raise LabError(refusal)
    if not interaction.response.is_done():
        await interaction.response.defer(thinking=True)  # the database may be slow
    outcome = await pools.add(bot.db, guild_id, group.id, interaction.user.id, allowed, POOL_LIMIT)
    log.info(
        "group %s: %d sentences offered, %d added", group.id, len(sentences), len(outcome.added)
    )
    message = " ".join(part for part in (added_message(group.name, outcome), refusal) if part)
    await interaction.edit_original_response(content=message)


def _numbers(numbers: list[int]) -> str:
    """`3`, `3 and 7`, `3, 7 and 9` (sentences numbered as the student sent them)."""
    text = [str(n) for n in numbers[:10]] + (["more"] if len(numbers) > 10 else [])
    return text[0] if len(text) == 1 else ", ".join(text[:-1]) + " and " + text[-1]


class PasteModal(LabModal, title="Add sentences to your pool"):
    """Many sentences at once, one per line. Only the member who opened it can submit it
    (Discord shows a modal to that member alone; a crafted submit by anyone else is refused),
    and it stops waiting after `TIMEOUT` seconds."""

    TIMEOUT = 15 * 60

    sentences: discord.ui.TextInput[PasteModal] = discord.ui.TextInput(
        label="One sentence per line", style=discord.TextStyle.paragraph, max_length=4000
    )

    def __init__(self, bot: LabBot, opener_id: int) -> None:
        super().__init__(timeout=self.TIMEOUT)
        self.bot, self.opener_id = bot, opener_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        return await only_opener(interaction, self.opener_id)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await add_to_pool(self.bot, interaction, self.sentences.value)


class ConfirmClear(LabView):
    """Clearing a pool is undoable only by typing everything again: ask first.

    Only the member who asked can press the buttons, and only while still in the group (a
    class expects a pool to be cleared by one of its own, deliberately). After `TIMEOUT`
    seconds the buttons go away and nothing is removed.
    """

    TIMEOUT = 120

    def __init__(self, bot: LabBot, group: LabGroup, opener: discord.Interaction) -> None:
        super().__init__(timeout=self.TIMEOUT)
        self.bot, self.group, self.opener = bot, group, opener

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await only_opener(interaction, self.opener.user.id):
            return False
        current = await group_of(self.bot.db, member(interaction))
        if current is None or current.id != self.group.id:
            raise LabError(f"You are no longer in {self.group.name}: nothing was removed.")
        return True

    async def on_timeout(self) -> None:
        if self.bot.is_closed():  # the bot stopped meanwhile: nobody to tell
            return
        with contextlib.suppress(discord.HTTPException):  # the prompt may be dismissed
            await self.opener.edit_original_response(
                content="No answer in time: nothing was removed.", view=None
            )

    @discord.ui.button(label="Clear the pool", style=discord.ButtonStyle.danger)
    async def confirm(self, interaction: discord.Interaction, button: discord.ui.Button):
        self.stop()
        await interaction.response.defer()  # acknowledge first: the database may be slow
        removed = await pools.clear(self.bot.db, self.group.id)
        await interaction.edit_original_response(
            content=f"Cleared {safe(self.group.name)}'s pool ({removed} sentences removed).",
            view=None,
        )

    @discord.ui.button(label="Keep it", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button):
        await interaction.response.edit_message(content="Nothing was removed.", view=None)
        self.stop()


class FineTuning(commands.Cog):
    """Task 4: a group's own fine-tune, starting with its sentence pool."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot
        self.runs = Runs(bot)
        self._listings = Listings()  # what each member last saw in /finetune pool

    async def cog_load(self) -> None:
        """Once connected, pick up the runs that were going on when the bot stopped."""
        self.runs.start()

    async def cog_unload(self) -> None:
        self.runs.stop()

    async def launch(self, record: finetune_jobs.JobRecord) -> None:
        """Start a recorded run (also used by the instructor's Approve button)."""
        await self.runs.launch(record)

    finetune = app_commands.Group(
        name="finetune", description="Your group's fine-tune.", guild_only=True
    )

    @finetune.command(name="add")
    @app_commands.describe(text="A sentence for your group's pool")
    async def add(self, interaction: discord.Interaction, text: str) -> None:
        """Add a sentence to your group's pool."""
        await add_to_pool(self.bot, interaction, text)

    @finetune.command(name="paste")
    async def paste(self, interaction: discord.Interaction) -> None:
        """Paste many sentences at once, one per line."""
        await require_group(self.bot.db, member(interaction))
        await interaction.response.send_modal(PasteModal(self.bot, interaction.user.id))

    @finetune.command(name="upload")
    @app_commands.describe(file="A .txt file with one sentence per line")
    async def upload(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        """Add the sentences of a .txt file, one per line."""
        if not file.filename.lower().endswith(".txt"):
            raise LabError("Upload a .txt file with one sentence per line.")
        if file.size > MAX_FILE:
            raise LabError(
                f"The file is too big ({file_size(file.size)}; at most {file_size(MAX_FILE)})."
            )
        await require_group(self.bot.db, member(interaction))
        await interaction.response.defer(thinking=True)  # downloading may take a moment
        try:
            data = await file.read()
        except discord.HTTPException as error:
            log.warning("could not download attachment %s: %s", file.id, error)
            raise LabError(
                "Discord could not give the bot your file (it may have been deleted, or "
                "Discord had a hiccup): upload it again."
            ) from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise LabError("The file is not UTF-8 text: save it as plain text.") from None
        await add_to_pool(self.bot, interaction, text)

    @finetune.command(name="pool")
    @app_commands.describe(page="Which page (20 sentences each)")
    async def pool(
        self, interaction: discord.Interaction, page: app_commands.Range[int, 1, 100] = 1
    ) -> None:
        """List your group's sentences, numbered, with who added each."""
        group = await require_group(self.bot.db, member(interaction))
        items = await pools.sentences(self.bot.db, group.id)
        if not items:
            raise LabError(f"{group.name}'s pool is empty: /finetune add, paste or upload.")
        self._listings.remember(interaction.user.id, group.id, [item.id for item in items])
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
        """Remove one sentence from your group's pool (numbered as in your last /finetune pool)."""
        group = await require_group(self.bot.db, member(interaction))
        seen = self._listings.seen(interaction.user.id, group.id)
        if seen is None:
            text = await pools.remove_number(self.bot.db, group.id, number)
            if text is None:
                count = len(await pools.sentences(self.bot.db, group.id))
                raise LabError(f"There is no sentence {number}: the pool has {count}.")
        else:
            if number > len(seen):
                raise LabError(
                    f"Your last /finetune pool listing had {len(seen)} sentences: list the "
                    "pool again to see newer ones."
                )
            text = await pools.remove(self.bot.db, group.id, seen[number - 1])
            if text is None:
                raise LabError(
                    f"Sentence {number} of your last /finetune pool listing was already removed "
                    "(by you or a groupmate), so nothing was removed. List the pool again."
                )
        await interaction.response.send_message(f'Removed sentence {number}: "{safe(text)}".')

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
        guild_id = server_id(interaction)
        group = await require_group(self.bot.db, member(interaction))
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
        words = await blocked_words(self.bot.db, guild_id)
        flagged = [n for n, item in enumerate(items, 1) if blocked_word(item.text, words)]
        if flagged:
            raise LabError(
                f"Sentence {_numbers(flagged)} of {group.name}'s pool uses a word your "
                "instructor has blocked for fine-tuning: /finetune remove it, then start again."
            )
        review = await approval_required(self.bot.db, guild_id)
        await self._begin(interaction, group, [item.text for item in items], params, None, review)

    async def _begin(self, interaction, group, sentences, params, example, review: bool) -> None:
        """Acknowledge, record the run, answer; then start it, or post it for approval.

        If the answer cannot be posted, the run is withdrawn at once: a run nobody can see
        (no Approve button, no progress) must not block the group.
        """
        if await finetune_jobs.active_of_group(self.bot.db, group.id) is not None:
            raise LabError(_ALREADY.format(group=group.name))
        await interaction.response.defer(thinking=True)
        try:
            record = await finetune_jobs.create(
                self.bot.db,
                guild_id=server_id(interaction),
                group_id=group.id,
                started_by=interaction.user.id,
                sentences=sentences,
                params=params.to_dict(),
                channel_id=interaction.channel_id,
                example=example.id if example else None,
                awaiting_approval=review,
            )
        except finetune_jobs.RunAlreadyActive:  # started twice at the same moment
            raise LabError(_ALREADY.format(group=group.name)) from None
        what = f'the example "{example.title}"' if example else f"{len(sentences)} sentences"
        settings = (
            f"{counted(params.epochs, 'epoch')}, learning rate {params.learning_rate:g}, "
            f"rank {params.rank}"
        )
        heading = f"{safe(group.name)} v{record.version}: fine-tuning on {safe(what)} ({settings})"
        embed = _example_embed(example) if example else None
        try:
            if review:
                listing = "\n".join(f"{n}. {s}" for n, s in enumerate(sentences, 1))
                await interaction.edit_original_response(
                    content=f"{heading} is waiting for an instructor to approve it. "
                    "The sentences are attached. You can withdraw it with /finetune cancel.",
                    embed=embed,
                    attachments=[discord.File(io.BytesIO(listing.encode()), "sentences.txt")],
                    view=review_view(record.id),
                )
            else:
                await interaction.edit_original_response(
                    content=f"{heading}. Progress below.", embed=embed
                )
        except discord.HTTPException:
            await finetune_jobs.finish(
                self.bot.db, record.id, "cancelled", "its announcement could not be posted"
            )
            raise
        if not review:
            await self.launch(record)

    @finetune.command(name="cancel")
    @app_commands.describe(group="Instructors: the group whose run to stop (default: your own)")
    async def cancel(self, interaction: discord.Interaction, group: str | None = None) -> None:
        """Stop your group's fine-tune that is waiting for approval or training."""
        if group is not None:
            if not is_instructor(interaction):
                raise LabError("Only instructors can cancel another group's fine-tune.")
            target = await groups.find(self.bot.db, server_id(interaction), group)
            if target is None:
                raise LabError(f"There is no group named {quoted(group)}.")
        else:
            target = await require_group(self.bot.db, member(interaction))
        record = await finetune_jobs.active_of_group(self.bot.db, target.id)
        if record is None:
            raise LabError(f"{target.name} has no fine-tune waiting or training.")
        await interaction.response.defer(thinking=True)
        who = interaction.user.display_name
        await interaction.edit_original_response(content=await self.runs.cancel(record, who))

    @finetune.command(name="clear")
    async def clear(self, interaction: discord.Interaction) -> None:
        """Remove every sentence from your group's pool (asks first)."""
        group = await require_group(self.bot.db, member(interaction))
        count = len(await pools.sentences(self.bot.db, group.id))
        await interaction.response.send_message(
            f"Remove all {count} sentences from {safe(group.name)}'s pool?",
            view=ConfirmClear(self.bot, group, interaction),
            ephemeral=True,
        )

    @finetune.command(name="example")
    @app_commands.describe(name="Which built-in dataset", epochs="Passes over its sentences (1-20)")
    @app_commands.choices(name=EXAMPLES)
    async def example(
        self,
        interaction: discord.Interaction,
        name: str,
        epochs: app_commands.Range[int, 1, 20] = 3,
    ) -> None:
        """Fine-tune on a built-in example dataset, to see the effect before your own."""
        example = load_examples().get(name)
        if example is None:
            choices = ", ".join(load_examples())
            raise LabError(f"There is no example {quoted(name)}: choose one of {choices}.")
        group = await require_group(self.bot.db, member(interaction))
        params = FineTuneParams(epochs=epochs)
        # A built-in dataset also waits when approval is on: the instructor decides when the
        # shared model runner trains, whatever the sentences.
        review = await approval_required(self.bot.db, server_id(interaction))
        await self._begin(interaction, group, list(example.sentences), params, example, review)

    @finetune.command(name="models")
    async def models(self, interaction: discord.Interaction) -> None:
        """Your group's fine-tuned versions: what each trained on, who started it, how it ended."""
        group = await require_group(self.bot.db, member(interaction))
        runs = await finetune_jobs.of_group(self.bot.db, group.id)
        if not runs:
            raise LabError(
                f"{group.name} has not fine-tuned yet: /finetune example or /finetune start."
            )
        lines = []
        for run in runs[:20]:
            params = run.params
            line = (
                f"**{describe(run)}** · {STATUS.get(run.status, run.status)} · "
                f"{counted(params.get('epochs'), 'epoch')}, lr {params.get('learning_rate'):g}, "
                f"rank {params.get('rank')} · started by "
                + (f"<@{run.started_by}>" if run.started_by else "a former member")
                + (f", approved by <@{run.approved_by}>" if run.approved_by else "")
                + f" · {run.created_at[:16].replace('T', ' ')} UTC"
            )
            if held := held_out_perplexity(run.results):
                line += f" · held-out perplexity {held}"
            lines.append(line)
        embed = discord.Embed(
            title=f"{group.name}'s fine-tuned models",
            description="\n".join(lines)[:4000],
            colour=discord.Colour.orange(),
        )
        embed.set_footer(text=models_footer([r.version for r in runs if r.status == "done"]))
        await interaction.response.send_message(embed=embed)

    @finetune.command(name="download")
    @app_commands.describe(version="Which version (default: the latest)")
    async def download(
        self,
        interaction: discord.Interaction,
        version: app_commands.Range[int, 1, 10_000] | None = None,
    ) -> None:
        """Download a fine-tuned model (LoRA adapter) as a zip that loads with peft."""
        group = await require_group(self.bot.db, member(interaction))
        versions = await finetune_jobs.trained(self.bot.db, group.id)
        record = next((r for r in versions if version in (None, r.version)), None)
        if record is None and not versions:
            raise LabError(
                f"{group.name} has no finished fine-tune yet: start one with `/finetune start` "
                "and download it when it is done."
            )
        if record is None:
            have = ", ".join(f"v{r.version}" for r in reversed(versions))
            raise LabError(f"{group.name} has no finished version v{version}: it has {have}.")
        await interaction.response.defer(thinking=True)
        data = await self.bot.runner.call(AdapterArchive(record.adapter))
        if len(data) > MAX_UPLOAD:
            raise LabError(
                f"The zip is {file_size(len(data))}, too big for Discord "
                f"(at most {file_size(MAX_UPLOAD)}). Ask your "
                f"instructor for the folder adapters/{record.adapter} on the model runner."
            )
        stem = "".join(c if c.isalnum() else "-" for c in group.name.lower()).strip("-")
        await interaction.edit_original_response(
            content=(
                f"{safe(group.name)}'s fine-tuned model v{record.version} (a LoRA adapter). "
                "Unzip it, then in a notebook: `PeftModel.from_pretrained(base_model, folder)`; "
                "README.txt inside says which base model it needs."
            ),
            attachments=[discord.File(io.BytesIO(data), f"{stem}-v{record.version}-lora.zip")],
        )


def models_footer(finished: list[int]) -> str:
    """How to use a version, naming the newest one the group really has (none: how to use
    one once it finishes)."""
    if not finished:
        return (
            "No version has finished yet: when one does, use it with /generate "
            "model:fine-tuned or /compare models:..., and /finetune download gives the files."
        )
    latest = max(finished)
    return (
        f"Use one with /generate model:v{latest} or /compare models:... version:{latest}; "
        "/finetune download gives the files."
    )


_ALREADY = "{group} already has a fine-tune waiting or running: wait for it to finish, or stop it with /finetune cancel."

STATUS = {
    "awaiting": "⏸️ waiting for approval",
    "running": "⏳ training",
    "done": "✅ done",
    "failed": "⚠️ failed",
    "cancelled": "cancelled",
    "declined": "❌ declined",
}


def _example_embed(example) -> discord.Embed:
    """What the example dataset is and what to look for."""
    embed = discord.Embed(
        title=f"Example: {example.title}", description=example.summary, colour=0xE67E22
    )
    sample = "\n".join(f"• {safe(clip(s, 150)[0])}" for s in example.sentences[:3])
    embed.add_field(name=f"{len(example.sentences)} sentences, such as", value=sample, inline=False)
    embed.add_field(name="What to look for", value=example.look_for[:1024], inline=False)
    prompts = " · ".join(f"`{p}`" for p in example.prompts)
    embed.add_field(name="Prompts to try afterwards", value=prompts[:1024], inline=False)
    return embed
