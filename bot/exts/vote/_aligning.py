"""The class's alignment run in motion: handed to the runner, followed, its end told.

Like a group's fine-tune: one ordinary channel message shows its progress (so a long run
outlives Discord's 15-minute interaction window), the record is written before anyone is
told how it ended, and every run reaches an end: a runner that no longer knows the job is
asked for the adapter (saved: done; otherwise failed), a runner unreachable for 15 minutes or
a run past 3 hours fails. Runs that were training when the bot stopped are followed again
once it is back.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
from typing import TYPE_CHECKING

import discord

from bot.charts import loss_curve
from bot.followers import Followers
from bot.formatting import counted, safe
from bot.storage import alignments
from bot.storage.alignments import AlignmentRun
from model_runner.protocol import (
    AlignmentParams,
    FineTuneProgress,
    FineTuneStatus,
    JobNotFound,
    ListAdapters,
    PreferencePair,
    RunnerError,
    StartAlignment,
)

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)

POLL_S = 2.0
UNREACHABLE_S = 15 * 60  # the runner cannot be reached at all
RUN_S = 3 * 3600  # queued plus training, from when following began


def title(run: AlignmentRun) -> str:
    """`Class-aligned v2`, as the class names the model."""
    return f"Class-aligned v{run.version}"


def progress_line(name: str, status: FineTuneStatus) -> str:
    """`⏳ Class-aligned v1 aligning ████░░ 40% · step 4/10 · DPO loss 0.61`."""
    if status.status == "queued":
        return f"⏳ **{name}** starts in a moment: the model is being set up to train."
    fraction = status.step / status.total_steps if status.total_steps else 0.0
    bar = "█" * round(fraction * 20) + "░" * (20 - round(fraction * 20))
    parts = [f"⏳ **{name}** aligning `{bar}` {fraction:.0%}"]
    parts.append(f"step {status.step}/{status.total_steps or '?'}")
    if status.losses:
        parts.append(f"DPO loss {status.losses[-1]:.2f}")
    if status.eta_s is not None:
        parts.append(f"about {max(1, round(status.eta_s))} s left")
    return " · ".join(parts)


def final_line(name: str, status: FineTuneStatus) -> str:
    """The progress message once the run has ended: a full bar, or how it ended."""
    if status.status != "done":
        return f"⚠️ **{name}**: the alignment {status.status}."
    ended = dataclasses.replace(status, status="running", step=status.total_steps, eta_s=None)
    return progress_line(name, ended).replace("⏳", "✅", 1)


def result_text(run: AlignmentRun, status: FineTuneStatus) -> str:
    """What the run did, in the lab's words: how often each model prefers the class's choice."""
    losses = status.losses
    lines = [
        f"✅ **{title(run)}** finished: {counted(status.total_steps, 'step')}"
        + (f", DPO loss {losses[0]:.2f} → {losses[-1]:.2f}" if losses else "")
        + f", on {counted(len(run.pairs), 'preference pair')} from the class's votes "
        + ", ".join(str(n) for n in run.votes)
        + "."
    ]
    measured = status.preference
    if measured is not None and measured.pairs:
        n = measured.pairs
        lines.append(
            f"**Does it prefer the class's choice?** The pre-trained model gave the winning "
            f"continuation the higher probability in {measured.preferred_before} of {n} pairs; "
            f"the class-aligned model does in {measured.preferred_after} of {n}."
        )
        lines.append(
            f"**Implicit reward margin** (how much more than the pre-trained model it favours "
            f"the winner over the other): positive in {measured.margin_positive} of {n} pairs, "
            f"mean {measured.mean_margin:.2f}; before training it is 0 in every pair (the model "
            "starts as the pre-trained one)."
        )
    lines.append(
        "It learned one class's taste on these prompts, not good writing in general. Try it on "
        "new prompts: /vote compare, or /generate model:class-aligned."
    )
    return "\n".join(lines)


class AlignmentRuns:
    """The class's alignment runs in motion; one per cog."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot
        self._followers = Followers(retry_s=POLL_S * 5)

    def start(self) -> None:
        """Once connected, follow the runs that were training when the bot stopped."""

        async def resume() -> None:
            await self.bot.wait_until_ready()
            for run in await alignments.running(self.bot.db):
                self.follow(run)

        self._followers.keep(asyncio.create_task(resume(), name="alignment-resume"))

    def stop(self) -> None:
        self._followers.stop()

    async def launch(self, run: AlignmentRun) -> None:
        """Hand a recorded run to the runner, then follow it."""
        try:
            pairs = [PreferencePair.from_dict(pair) for pair in run.pairs]
            params = AlignmentParams.from_dict(run.params)
            await self.bot.runner.call(StartAlignment(run.adapter, pairs, params))
        except Exception as error:
            reason = str(error) if isinstance(error, RunnerError) else "the runner failed"
            await alignments.finish(self.bot.db, run.id, "failed", reason)
            raise
        self.follow(run)

    def follow(self, run: AlignmentRun) -> None:
        """Follow a run until its record says how it ended (one follower per run)."""

        async def running() -> AlignmentRun | None:
            current = await alignments.get(self.bot.db, run.id)
            return current if current is not None and current.status == "running" else None

        self._followers.follow(
            run.id, f"alignment {run.adapter}", self.bot.wait_until_ready, running, self._follow
        )

    async def _follow(self, run: AlignmentRun) -> None:
        channel = self.bot.get_partial_messageable(run.channel_id)
        message = channel.get_partial_message(run.message_id) if run.message_id else None
        shown = ""
        began, unreachable_since = time.monotonic(), None
        while True:
            if time.monotonic() - began > RUN_S:
                await self._end(run, "failed", f"it did not finish within {RUN_S // 3600} hours")
                return
            try:
                status = await self.bot.runner.call(FineTuneProgress(run.adapter))
            except JobNotFound:  # the runner restarted and lost the job: is the adapter there?
                saved = await self._saved(run.adapter)
                await self._end(run, "done" if saved else "failed", "the model runner restarted")
                return
            except RunnerError as error:
                unreachable_since = unreachable_since or time.monotonic()
                if time.monotonic() - unreachable_since > UNREACHABLE_S:
                    reason = f"the runner could not be reached for {UNREACHABLE_S // 60} minutes"
                    await self._end(run, "failed", reason)
                    return
                log.warning("alignment %s: %s", run.adapter, error)
                await asyncio.sleep(POLL_S * 5)
                continue
            unreachable_since = None
            if status.status in ("queued", "running"):
                text = progress_line(title(run), status)
                if text != shown:
                    message = await self._show(run, channel, message, text)
                    shown = text
                await asyncio.sleep(POLL_S)
                continue
            results = {
                "losses": status.losses,
                "preference": status.preference.to_dict() if status.preference else None,
            }
            if not await alignments.finish(
                self.bot.db, run.id, status.status, status.error, results
            ):
                return  # ended meanwhile
            if status.status == "done":
                await self._announce(run, channel, status)
            else:
                reason = safe(status.error or status.status)
                await self._tell(
                    channel,
                    f"{title(run)}: the alignment {status.status} ({reason}). "
                    "/vote align starts it again.",
                )
            if message is not None:
                await self._show(run, channel, message, final_line(title(run), status))
            return

    async def _show(self, run, channel, message, text: str):
        """Edit the progress message (posting it again if it is gone); never fatal."""
        try:
            if message is not None:
                try:
                    await message.edit(content=text)
                    return message
                except discord.NotFound:
                    message = None
            posted = await channel.send(text)
            await alignments.set_message(self.bot.db, run.id, posted.id)
            return posted
        except discord.HTTPException as error:
            log.warning("alignment %s: progress not shown (%s)", run.adapter, error)
            return message

    async def _saved(self, adapter: str) -> bool:
        try:
            return adapter in {a.id for a in (await self.bot.runner.call(ListAdapters())).adapters}
        except RunnerError:
            return False

    async def _end(self, run: AlignmentRun, status: str, reason: str) -> None:
        if await alignments.finish(self.bot.db, run.id, status, "" if status == "done" else reason):
            channel = self.bot.get_partial_messageable(run.channel_id)
            if status == "done":
                text = (
                    f"✅ **{title(run)}** finished (while the bot or the model runner restarted)."
                )
            else:
                text = (
                    f"{title(run)}: the alignment failed ({reason}). /vote align starts it again."
                )
            await self._tell(channel, text)

    async def _announce(self, run: AlignmentRun, channel, status: FineTuneStatus) -> None:
        chart = await asyncio.to_thread(loss_curve, status.losses, f"{title(run)}: DPO loss")
        await self._tell(
            channel,
            result_text(run, status),
            file=discord.File(io.BytesIO(chart), "alignment-loss.png"),
        )

    @staticmethod
    async def _tell(channel, content: str, **kwargs) -> None:
        try:
            await channel.send(content, **kwargs)
        except discord.HTTPException as error:
            log.warning("could not post an alignment message: %s", error)
