"""Following a group's fine-tune: one channel message that updates with its progress.

Ordinary channel messages (not interaction replies), so a run longer than Discord's 15-minute
interaction window keeps reporting. The follower always records how the run ended, whatever
Discord does meanwhile:

- Discord errors never end it: a deleted progress message (404) is posted again, a refused
  or failed edit (403, 5xx) is tried again at the next poll.
- The runner's final status is recorded before anyone is told about it.
- The runner's job record says how a run ended, also when the runner that trained it stopped
  or was replaced. If the runner knows no such job at all (its store was lost), the adapter
  store decides: a trained adapter is on disk, so the version is done; otherwise the run
  failed and the pool is intact.
- A runner that stays unreachable, or a run that never ends, fails after a deadline.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.charts import loss_curve
from bot.exts.finetune._examples import load_examples
from bot.exts.finetune._findings import findings, results_of
from bot.fine_tuned import FINE_TUNED_MIN_TOKENS
from bot.formatting import clip, counted, safe
from bot.storage import finetune_jobs
from bot.storage.finetune_jobs import JobRecord
from model_runner.protocol import (
    CancelFineTune,
    DecodingParams,
    FineTuneProgress,
    FineTuneStatus,
    Generate,
    JobNotFound,
    ListAdapters,
    RunnerError,
)

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)

POLL_S = 2.0
SAMPLE_TOKENS = 25


@dataclass
class Deadlines:
    """How long a run may take before the follower gives up on it (seconds)."""

    unreachable_s: float = 15 * 60  # the runner cannot be reached at all
    run_s: float = 3 * 3600  # queued plus training, from when following began


DEADLINES = Deadlines()


def progress_text(
    title: str,
    step: int,
    total: int,
    losses: list[float],
    eta_s: float | None,
    together: int = 0,
) -> str:
    """`Group 1 v2 ████████░░░░ 60% · step 6/10 · loss 2.31 · about 12 s left`, and how many
    other groups' fine-tunes share each training pass with it."""
    fraction = step / total if total else 0.0
    bar = "█" * round(fraction * 20) + "░" * (20 - round(fraction * 20))
    parts = [f"⏳ **{title}** fine-tuning `{bar}` {fraction:.0%}", f"step {step}/{total or '?'}"]
    if losses:
        parts.append(f"loss {losses[-1]:.2f}")
    if eta_s is not None:
        parts.append(f"about {duration(eta_s)} left")
    if together > 1:
        parts.append(f"training together with {counted(together - 1, 'other fine-tune')}")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """`45 s`, `3 min`, `1 h 10 min`: how long, as a person would say it."""
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min" if minutes else f"{hours} h"


async def samples(bot: LabBot, record: JobRecord) -> discord.Embed:
    """Two prompts from the pool's own openings, pre-trained beside fine-tuned."""
    embed = discord.Embed(title="Pre-trained vs fine-tuned", colour=discord.Colour.orange())
    example = load_examples().get(record.example) if record.example else None
    openings = list(example.prompts[:2]) if example else []
    for sentence in [] if example else record.sentences:
        words = sentence.split()[:3]
        if words and " ".join(words) not in openings:
            openings.append(" ".join(words))
        if len(openings) == 2:
            break
    greedy = DecodingParams(
        max_new_tokens=SAMPLE_TOKENS,
        no_repeat_ngram_size=3,
        min_new_tokens=FINE_TUNED_MIN_TOKENS,  # both models, so that only the model differs
    )
    for prompt in openings:
        base, tuned = await asyncio.gather(
            bot.runner.call(Generate(prompt, greedy)),
            bot.runner.call(Generate(prompt, greedy, record.adapter)),
        )
        embed.add_field(
            name=clip(f"Pre-trained: {prompt}", 256)[0],
            value=f"**{safe(prompt)}**{safe(clip(base.text, 400)[0])}",
            inline=False,
        )
        embed.add_field(
            name=clip(f"Fine-tuned: {prompt}", 256)[0],
            value=f"**{safe(prompt)}**{safe(clip(tuned.text, 400)[0])}",
            inline=False,
        )
    if example is not None:
        embed.add_field(name="Key takeaway", value=example.takeaway[:1024], inline=False)
    embed.set_footer(
        text="Greedy search, 25 tokens. Try more prompts with /compare models:Pre-trained, "
        "in-context and fine-tuned."
    )
    return embed


class ProgressMessage:
    """The run's progress message; Discord errors are logged and tried again, never fatal."""

    def __init__(self, bot: LabBot, channel, record: JobRecord) -> None:
        self.bot, self.channel, self.record = bot, channel, record
        self.message = channel.get_partial_message(record.message_id) if record.message_id else None
        self.shown = ""

    async def show(self, text: str) -> None:
        if text == self.shown:
            return
        try:
            if self.message is not None:
                try:
                    await self.message.edit(content=text)
                except discord.NotFound:  # deleted (by a moderator?): post it again
                    self.message = None
            if self.message is None:
                self.message = await self.channel.send(text)
                await finetune_jobs.set_message(self.bot.db, self.record.id, self.message.id)
            self.shown = text
        except discord.HTTPException as error:
            log.warning("fine-tune %s: progress not shown (%s)", self.record.adapter, error)


async def tell(channel, content: str, **kwargs) -> None:
    """Send to the channel; a Discord error is logged (the record is already written)."""
    try:
        await channel.send(content, **kwargs)
    except discord.HTTPException as error:
        log.warning("could not post a fine-tune message: %s", error)


async def follow(bot: LabBot, record: JobRecord, group_name: str) -> None:
    """Update the progress message until the run ends, record how it ended, then show it."""
    title = f"{group_name} v{record.version}"
    channel = bot.get_channel(record.channel_id) or await bot.fetch_channel(record.channel_id)
    progress = ProgressMessage(bot, channel, record)
    began = time.monotonic()
    unreachable_since: float | None = None
    while True:
        if time.monotonic() - began > DEADLINES.run_s:
            await _give_up(bot, record, channel, title)
            return
        try:
            status = await bot.runner.call(FineTuneProgress(record.adapter))
        except JobNotFound:  # the runner does not know the job: it restarted
            await _after_runner_restart(bot, record, channel, title)
            return
        except RunnerError as error:  # unreachable for a moment: keep trying, for a while
            unreachable_since = unreachable_since or time.monotonic()
            if time.monotonic() - unreachable_since > DEADLINES.unreachable_s:
                minutes = DEADLINES.unreachable_s / 60
                reason = f"the model runner could not be reached for {minutes:.0f} minutes"
                if await finetune_jobs.finish(bot.db, record.id, "failed", reason):
                    await tell(
                        channel,
                        f"{safe(title)}: the fine-tune failed ({reason}). Your pool is intact: "
                        "/finetune start to run it again.",
                    )
                return
            log.warning("fine-tune %s: %s", record.adapter, error)
            await asyncio.sleep(POLL_S * 5)
            continue
        unreachable_since = None
        if status.status in ("queued", "running"):
            await progress.show(_progress(title, status))
            await asyncio.sleep(POLL_S)
            continue
        results = results_of(status) if status.status == "done" else None
        if not await finetune_jobs.finish(bot.db, record.id, status.status, status.error, results):
            return  # ended meanwhile (cancelled by the group or an instructor): said there
        await _announce(bot, record, channel, title, status, progress)
        return


def _progress(title: str, status: FineTuneStatus) -> str:
    if status.status == "queued":
        if status.starts_in_s is not None and status.starts_in_s < 5:
            return f"⏳ **{safe(title)}** starts in a moment: the model is being set up to train."
        when = (
            "when one of them finishes"
            if status.starts_in_s is None
            else f"in about {duration(status.starts_in_s)}, when one of them finishes"
        )
        return (
            f"⏳ **{safe(title)}** is queued: the model trains several groups' fine-tunes "
            f"together and all its places are taken; it starts {when}."
        )
    return progress_text(
        title, status.step, status.total_steps, status.losses, status.eta_s, status.together
    )


async def _announce(bot: LabBot, record, channel, title, status: FineTuneStatus, progress) -> None:
    """Tell the group how the run ended (already recorded)."""
    if status.status != "done":
        reason = status.error or status.status
        again = (
            " Your pool is intact: /finetune start to run it again."
            if status.status == "failed"
            else ""
        )
        await tell(
            channel, f"{safe(title)}: the fine-tune {status.status} ({safe(reason)}).{again}"
        )
        return
    chart = await asyncio.to_thread(
        loss_curve,
        status.losses,
        f"{title}: training loss",
        status.held_out_losses,
        status.steps_per_epoch,
    )
    try:
        embed = await samples(bot, record)
    except RunnerError as error:  # busy or unreachable: the version is usable anyway
        log.warning("fine-tune %s: no samples (%s)", record.adapter, error)
        embed = discord.utils.MISSING
    losses = status.losses
    done = (
        f"✅ **{safe(title)}** fine-tune finished: {status.total_steps} steps"
        + (f", loss {losses[0]:.2f} → {losses[-1]:.2f}" if losses else "")
        + ". Compare it with /compare models:Pre-trained, in-context and fine-tuned."
    )
    lines = findings(results_of(status))
    if lines:
        done += "\n" + "\n".join(lines)  # numbers and the lab's words only
    await tell(channel, done, embed=embed, file=discord.File(io.BytesIO(chart), "loss.png"))
    final = progress_text(title, status.total_steps, status.total_steps, losses, None)
    await progress.show(final.replace("⏳", "✅"))


async def _after_runner_restart(bot: LabBot, record: JobRecord, channel, title: str) -> None:
    """The runner lost the job: the adapter store says whether it finished."""
    try:
        saved = {adapter.id for adapter in (await bot.runner.call(ListAdapters())).adapters}
    except RunnerError:
        saved = set()
    if record.adapter in saved:
        if await finetune_jobs.finish(bot.db, record.id, "done"):
            await tell(
                channel,
                f"✅ **{safe(title)}** fine-tune finished (while the bot or the model runner "
                "restarted). Compare it with /compare models:Pre-trained, in-context and "
                "fine-tuned.",
            )
        return
    if await finetune_jobs.finish(bot.db, record.id, "failed", "the model runner restarted"):
        await tell(
            channel,
            f"{safe(title)}: the fine-tune stopped because the model runner restarted. "
            "Your pool is intact: /finetune start to run it again.",
        )


async def _give_up(bot: LabBot, record: JobRecord, channel, title: str) -> None:
    """A run past its deadline: stop it on the runner and record that it failed."""
    hours = DEADLINES.run_s / 3600
    reason = f"it did not finish within {hours:g} hours"
    try:
        await bot.runner.call(CancelFineTune(record.adapter))
    except RunnerError as error:
        log.warning("fine-tune %s: cancel after the deadline failed: %s", record.adapter, error)
    if await finetune_jobs.finish(bot.db, record.id, "failed", reason):
        await tell(
            channel,
            f"{safe(title)}: the fine-tune was stopped ({reason}). Your pool is intact: "
            "/finetune start to run it again.",
        )
