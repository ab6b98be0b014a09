"""Which model a command runs: the pre-trained one, or one of the group's fine-tuned versions.

Commands take a `model` option typed by students: `pre-trained`, `fine-tuned` (the group's
latest finished fine-tune), a version such as `v2`, or `class-aligned` (the model aligned with
the class's votes, /vote align). Autocomplete offers the group's versions with what each was
trained on, so nobody has to remember adapter ids.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import discord
from discord import app_commands

from bot.context import lab_bot
from bot.errors import LabError
from bot.groups import group_of, require_group
from bot.storage import alignments, finetune_jobs
from bot.storage.database import Database
from bot.storage.finetune_jobs import JobRecord
from bot.storage.groups import LabGroup

PRETRAINED = "pre-trained"
LATEST = "fine-tuned"
ALIGNED = "class-aligned"  # the class's latest alignment from its votes
# A fine-tuned model writes at least this many tokens unless min_tokens says otherwise: trained
# on sentences that each end the text, it learns to end the text right after a full stop.
FINE_TUNED_MIN_TOKENS = 5
_VERSION = re.compile(r"^\s*v?\s*(\d{1,6})\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class ModelChoice:
    """A model as the lab names it, and the runner adapter behind it (None = pre-trained)."""

    label: str  # "Pre-trained" or "Fine-tuned v2"
    adapter: str | None
    record: JobRecord | None = None


@dataclass(frozen=True)
class FineTunedChoice(ModelChoice):
    """One of the group's finished fine-tunes: the record is always there."""

    record: JobRecord


PRETRAINED_CHOICE = ModelChoice("Pre-trained", None)


def describe(record: JobRecord) -> str:
    """`v2: your pool, 24 sentences` or `v1: example "recipes"`, for menus and lists."""
    source = f'example "{record.example}"' if record.example else "your pool"
    return f"v{record.version}: {source}, {len(record.sentences)} sentences"


async def resolve(db: Database, member: discord.Member, value: str | None) -> ModelChoice:
    """The model a student asked for, or a message that says what there is to choose."""
    text = (value or PRETRAINED).strip().lower().replace("_", "-")
    if text in (PRETRAINED, "pretrained", "base", "pre trained"):
        return PRETRAINED_CHOICE
    if text in (ALIGNED, "aligned", "class aligned"):
        return await class_aligned(db, member.guild.id)
    group = await require_group(db, member)
    return choose(group, await finetune_jobs.trained(db, group.id), text)


def is_class_aligned(adapter: str) -> bool:
    """Whether a runner adapter id is a class-aligned model's (bot.storage.alignments)."""
    return "-class-aligned-v" in adapter


async def class_aligned(db: Database, guild_id: int) -> ModelChoice:
    """The model aligned with the class's votes (the latest), or what to do to get one."""
    runs = await alignments.finished(db, guild_id)
    if not runs:
        raise LabError(
            "The class has no aligned model yet: an instructor runs /vote align once votes "
            "have closed."
        )
    return ModelChoice(f"Class-aligned v{runs[0].version}", runs[0].adapter)


def choose(group: LabGroup, versions: list[JobRecord], value: str) -> FineTunedChoice:
    """`fine-tuned` or `vN` among a group's finished versions (newest first)."""
    text = value.strip().lower().replace("_", "-")
    if not versions:
        raise LabError(
            f"{group.name} has no fine-tuned model yet: /finetune start (or /finetune example) "
            "trains one."
        )
    record: JobRecord | None
    if text in (LATEST, "finetuned", "latest", "fine tuned"):
        record = versions[0]
    else:
        match = _VERSION.match(text)
        record = next((r for r in versions if match and r.version == int(match[1])), None)
        if record is None:
            have = ", ".join(f"v{r.version}" for r in reversed(versions))
            raise LabError(
                f"Choose pre-trained, fine-tuned (the latest), class-aligned or one of "
                f"{group.name}'s versions: {have}."
            )
    return FineTunedChoice(f"Fine-tuned v{record.version}", record.adapter, record)


async def autocomplete(
    interaction: discord.Interaction, current: str
) -> list[app_commands.Choice[str]]:
    """Pre-trained, the latest fine-tune, then each finished version of the member's group.

    Autocomplete has no error reply: a member whose group cannot be told (two group roles)
    is offered the pre-trained model only, and the command itself explains the problem.
    """
    options = [
        app_commands.Choice(name="Pre-trained (the model as the class shares it)", value=PRETRAINED)
    ]
    db = lab_bot(interaction).db
    user = interaction.user
    try:
        group = await group_of(db, user) if isinstance(user, discord.Member) else None
    except LabError:
        group = None
    if group is not None:
        versions = await finetune_jobs.trained(db, group.id)
        if versions:
            options.append(
                app_commands.Choice(
                    name=f"Fine-tuned, latest ({describe(versions[0])})"[:100], value=LATEST
                )
            )
        options += [
            app_commands.Choice(name=describe(r)[:100], value=f"v{r.version}") for r in versions
        ]
    if interaction.guild_id is not None and await alignments.finished(db, interaction.guild_id):
        options.append(
            app_commands.Choice(
                name="Class-aligned (learned from the class's votes)", value=ALIGNED
            )
        )
    typed = current.strip().lower()
    return [o for o in options if typed in o.name.lower() or typed in o.value][:25]


def held_out_perplexity(results: dict) -> str:
    """`30.6 → 10.5`: a version's perplexity on its held-out sentences, pre-trained then
    fine-tuned (empty when none were held out)."""
    losses = results.get("held_out_losses") or []
    if len(losses) < 2:
        return ""
    return f"{math.exp(min(losses[0], 50.0)):.1f} → {math.exp(min(losses[-1], 50.0)):.1f}"
