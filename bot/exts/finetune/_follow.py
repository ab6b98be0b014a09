"""Following a group's fine-tune: one channel message that updates with its progress.

Ordinary channel messages (not interaction replies), so a run longer than Discord's 15-minute
interaction window keeps reporting. If the runner no longer knows the job (it restarted),
the run is marked failed and the group is told; its pool is untouched.
"""

from __future__ import annotations

import asyncio
import io
import logging

import discord

from bot.charts import loss_curve
from bot.exts.finetune._examples import load_examples
from bot.formatting import clip, safe
from bot.storage import finetune_jobs
from bot.storage.finetune_jobs import JobRecord
from model_runner.api import InvalidRequest, RunnerError
from model_runner.decoding.params import DecodingParams

log = logging.getLogger(__name__)

POLL_S = 2.0
SAMPLE_TOKENS = 25


def progress_text(
    title: str, step: int, total: int, losses: list[float], eta_s: float | None
) -> str:
    """`Group 1 v2 ████████░░░░ 60% · step 6/10 · loss 2.31 · about 12 s left`."""
    fraction = step / total if total else 0.0
    bar = "█" * round(fraction * 20) + "░" * (20 - round(fraction * 20))
    parts = [f"⏳ **{title}** fine-tuning `{bar}` {fraction:.0%}", f"step {step}/{total or '?'}"]
    if losses:
        parts.append(f"loss {losses[-1]:.2f}")
    if eta_s is not None:
        parts.append(f"about {eta_s:.0f} s left")
    return " · ".join(parts)


async def samples(bot, record: JobRecord) -> discord.Embed:
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
    greedy = DecodingParams(max_new_tokens=SAMPLE_TOKENS, no_repeat_ngram_size=3)
    for prompt in openings:
        base, tuned = await asyncio.gather(
            bot.runner.generate(prompt, greedy), bot.runner.generate(prompt, greedy, record.adapter)
        )
        embed.add_field(
            name=f"Pre-trained: {prompt}",
            value=f"**{safe(prompt)}**{safe(clip(base.text, 400)[0])}",
            inline=False,
        )
        embed.add_field(
            name=f"Fine-tuned: {prompt}",
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


async def follow(bot, record: JobRecord, group_name: str) -> None:
    """Update the progress message until the run ends, then show the result."""
    title = f"{group_name} v{record.version}"
    channel = bot.get_channel(record.channel_id) or await bot.fetch_channel(record.channel_id)
    message = channel.get_partial_message(record.message_id) if record.message_id else None
    shown = ""
    while True:
        try:
            status = await bot.runner.finetune_status(record.adapter)
        except InvalidRequest:
            await finetune_jobs.finish(bot.db, record.id, "failed", "the model runner restarted")
            await channel.send(
                f"{safe(title)}: the fine-tune stopped because the model runner restarted. "
                "Your pool is intact: /finetune start to run it again."
            )
            return
        except RunnerError as error:  # unreachable for a moment: keep trying
            log.warning("fine-tune %s: %s", record.adapter, error)
            await asyncio.sleep(POLL_S * 5)
            continue
        if status.status in ("queued", "running"):
            text = (
                f"⏳ **{safe(title)}** is queued: fine-tunes train one at a time, in the order "
                "they started, and another group's is training now."
                if status.status == "queued"
                else progress_text(
                    title, status.step, status.total_steps, status.losses, status.eta_s
                )
            )
            if text != shown and message is not None:
                await message.edit(content=text)
                shown = text
            await asyncio.sleep(POLL_S)
            continue
        await finetune_jobs.finish(bot.db, record.id, status.status, status.error)
        if status.status != "done":
            reason = status.error or status.status
            await channel.send(f"{safe(title)}: the fine-tune {status.status} ({safe(reason)}).")
            return
        chart = await asyncio.to_thread(loss_curve, status.losses, f"{title}: training loss")
        embed = await samples(bot, record)
        done = (
            f"✅ **{safe(title)}** fine-tune finished: {status.total_steps} steps, loss "
            f"{status.losses[0]:.2f} → {status.losses[-1]:.2f}. Compare it with /compare "
            "models:Pre-trained, in-context and fine-tuned."
        )
        await channel.send(
            done, embed=embed, file=discord.File(io.BytesIO(chart), filename="loss.png")
        )
        if message is not None:
            await message.edit(
                content=progress_text(
                    title, status.total_steps, status.total_steps, status.losses, None
                ).replace("⏳", "✅")
            )
        return
