"""The instructor controls' cog."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.context import server_id
from bot.errors import LabError, NotInstructor
from bot.exts.lab._explanations import EXPLANATIONS
from bot.formatting import safe
from bot.permissions import is_instructor
from bot.policy import LabLimits
from bot.storage import guild_settings
from bot.word_list import MAX_WORDS, blocked_words, clean_words, same_word

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

JOINING = {
    "open": "Groups are open: anyone can join any group with /group join.",
    "approval": "Joining a group that has members now needs an instructor's Approve; "
    "starting a new group is free.",
    "locked": "Groups are locked: nobody can join, start or leave a group until you open them.",
}
BLOCKWORDS_PAGE = 1500  # characters of the list per reply (Discord allows 2,000 in all)
METHODS = [app_commands.Choice(name=title, value=key) for key, (title, _) in EXPLANATIONS.items()]
REVEAL = [app_commands.Choice(name="All four methods", value="all"), *METHODS]
OPENS = {"sampling": "/sampler", "beam": "/beamtree"}  # what a method's reveal opens besides


def blockwords_pages(words: list[str], size: int = BLOCKWORDS_PAGE) -> list[str]:
    """The blocked words as `word`, `word`, ... in pages of at most `size` characters."""
    pages: list[str] = []
    current = ""
    for word in words:
        item = f"`{word}`"
        if current and len(current) + 2 + len(item) > size:
            pages.append(current)
            current = ""
        current = f"{current}, {item}" if current else item
    return [*pages, current] if current or not pages else pages


def blockwords_page(words: list[str], page: int) -> str:
    """One page of the list, with how to see the others: always under 2,000 characters."""
    pages = blockwords_pages(words)
    page = min(page, len(pages))
    shown = pages[page - 1] or "no words"
    where = ""
    if len(pages) > 1:
        more = f"; next: /lab blockwords page:{page + 1}" if page < len(pages) else ""
        where = f" (page {page} of {len(pages)}, {len(words)} in all{more})"
    return (
        f"Blocked from fine-tuning pools{where}: {shown}. Sentences that use them are refused "
        "when added, and a pool that holds one cannot start a fine-tune."
    )


class LabControls(commands.Cog):
    """Instructor settings for the lab, and the explanations they unlock."""

    def __init__(self, bot: LabBot) -> None:
        self.bot = bot

    lab = app_commands.Group(
        name="lab",
        description="Instructor controls for the lab.",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        """Every /lab command is checked on the server too: Discord's default permissions
        can be changed by server admins, the instructor roles cannot."""
        command = interaction.command
        root = command.root_parent if isinstance(command, app_commands.Command) else None
        if root is not None and root.name == "lab" and not is_instructor(interaction):
            raise NotInstructor()
        return True

    async def _update(self, interaction: discord.Interaction, **changes) -> dict:
        return await guild_settings.update(self.bot.db, server_id(interaction), **changes)

    async def _change(self, interaction: discord.Interaction, compute) -> dict:
        """Read-modify-write in one transaction (see `guild_settings.change`)."""
        return await guild_settings.change(self.bot.db, server_id(interaction), compute)

    @lab.command(name="reveal")
    @app_commands.describe(method="Which explanation to reveal")
    @app_commands.choices(method=REVEAL)
    async def reveal(self, interaction: discord.Interaction, method: str = "all") -> None:
        """Let students read the explanation of a decoding method with /explain."""
        wanted = set(EXPLANATIONS) if method == "all" else {method}

        def reveal(settings: dict) -> dict:
            # Only known methods are kept: a value stored before options were checked
            # would otherwise break every later reveal.
            known = set(settings.get("revealed", [])) & set(EXPLANATIONS)
            return {"revealed": sorted(known | wanted)}

        settings = await self._change(interaction, reveal)
        names = ", ".join(EXPLANATIONS[m][0] for m in settings["revealed"])
        opened = ["/explain", *(OPENS[m] for m in settings["revealed"] if m in OPENS)]
        listed = " and ".join([", ".join(opened[:-1]), opened[-1]] if len(opened) > 1 else opened)
        await interaction.response.send_message(
            f"Revealed: {names}. Students can now use {listed}."
        )

    @lab.command(name="hide")
    async def hide(self, interaction: discord.Interaction) -> None:
        """Hide every explanation again (for the next class)."""
        await self._update(interaction, revealed=[])
        await interaction.response.send_message(
            "Explanations hidden: /explain asks groups to guess first.", ephemeral=True
        )

    @lab.command(name="limits")
    @app_commands.describe(
        max_tokens="Most tokens a student may ask for (0 = the runner's ceiling)",
        cooldown="Seconds between one student's model commands (0 = none)",
        group_quota="Model commands per group per hour (0 = unlimited)",
    )
    async def limits(
        self,
        interaction: discord.Interaction,
        max_tokens: app_commands.Range[int, 0, 1024] | None = None,
        cooldown: app_commands.Range[int, 0, 600] | None = None,
        group_quota: app_commands.Range[int, 0, 10_000] | None = None,
    ) -> None:
        """Set (or show) the limits on model commands."""
        ceiling = self.bot.settings.runner.max_new_tokens
        if max_tokens is not None and max_tokens > ceiling:
            raise LabError(f"max_tokens can be at most the runner's ceiling, {ceiling}.")
        changes = {
            k: v
            for k, v in (
                ("max_tokens", max_tokens),
                ("cooldown_s", cooldown),
                ("group_quota", group_quota),
            )
            if v is not None
        }
        settings = (
            await self._update(interaction, **changes)
            if changes
            else (await guild_settings.load(self.bot.db, server_id(interaction)))
        )
        limits = LabLimits.from_settings(settings)
        await interaction.response.send_message(
            f"max_tokens: {limits.max_tokens or ceiling} · cooldown: {limits.cooldown_s} s · "
            f"group quota: {limits.group_quota or 'unlimited'} per hour",
            ephemeral=True,
        )

    @lab.command(name="channel")
    @app_commands.describe(channel="The channel to add or remove", allow="Add it (or remove it)")
    async def channel(
        self, interaction: discord.Interaction, channel: discord.TextChannel, allow: bool = True
    ) -> None:
        """Choose the channels the bot answers model commands in (none chosen = all)."""

        def choose(settings: dict) -> dict:
            channels = set(settings.get("channels", []))
            channels = channels | {channel.id} if allow else channels - {channel.id}
            return {"channels": sorted(channels)}

        channels = (await self._change(interaction, choose))["channels"]
        where = ", ".join(f"<#{c}>" for c in channels) or "every channel"
        await interaction.response.send_message(f"The lab now runs in {where}.", ephemeral=True)

    @lab.command(name="grouprole")
    @app_commands.describe(
        role="A role whose members form one lab group", group="Make it a group role (or stop)"
    )
    async def grouprole(
        self, interaction: discord.Interaction, role: discord.Role, group: bool = True
    ) -> None:
        """Mark a role as a lab group (roles named 'Group ...' count already)."""

        def mark(settings: dict) -> dict:
            marked = set(settings.get("group_role_ids", []))
            marked = marked | {role.id} if group else marked - {role.id}
            return {"group_role_ids": sorted(marked)}

        await self._change(interaction, mark)
        state = "is now" if group else "is no longer"
        await interaction.response.send_message(
            f"{safe(role.name)} {state} a group role.", ephemeral=True
        )

    @lab.command(name="blockwords")
    @app_commands.describe(
        add="Words or phrases to block, separated by commas",
        remove="Words or phrases to unblock, separated by commas",
        page="Which page of the list to show",
    )
    async def blockwords(
        self,
        interaction: discord.Interaction,
        add: str = "",
        remove: str = "",
        page: app_commands.Range[int, 1, 100] = 1,
    ) -> None:
        """Block words from fine-tuning pools (or show the list)."""
        added, dropped = clean_words(add), set(clean_words(remove))

        def edit(settings: dict) -> dict:
            words = list(settings.get("blocked_words", []))
            for word in added:
                if not any(same_word(word, w) for w in words):
                    words.append(word)
            words = [w for w in words if not any(same_word(w, d) for d in dropped)]
            if len(words) > MAX_WORDS:
                raise LabError(f"The list can hold at most {MAX_WORDS} words or phrases.")
            return {"blocked_words": words}

        if add or remove:
            words = (await self._change(interaction, edit))["blocked_words"]
        else:
            words = await blocked_words(self.bot.db, server_id(interaction))
        await interaction.response.send_message(blockwords_page(words, page), ephemeral=True)

    @lab.command(name="approval")
    @app_commands.describe(required="Runs wait for an instructor's Approve (or start at once)")
    async def approval(self, interaction: discord.Interaction, required: bool) -> None:
        """Require an instructor's approval before a group's fine-tune runs."""
        await self._update(interaction, finetune_approval=required)
        state = (
            "Fine-tunes now wait for an instructor to press Approve, on a group's own sentences "
            "(/finetune start) and on a built-in example (/finetune example) alike."
            if required
            else "Fine-tunes (own sentences and built-in examples) now start without approval."
        )
        await interaction.response.send_message(state, ephemeral=True)

    @lab.command(name="groupjoining")
    @app_commands.describe(mode="Who may join a group by name (servers without group roles)")
    @app_commands.choices(
        mode=[
            app_commands.Choice(name="Open: anyone joins any group", value="open"),
            app_commands.Choice(
                name="Approval: an instructor approves each join", value="approval"
            ),
            app_commands.Choice(name="Locked: groups stay as they are", value="locked"),
        ]
    )
    async def groupjoining(self, interaction: discord.Interaction, mode: str) -> None:
        """Choose whether members join groups freely, with approval, or not at all."""
        if mode not in JOINING:
            raise LabError("mode must be one of: " + ", ".join(JOINING) + ".")
        await self._update(interaction, group_joining=mode)
        await interaction.response.send_message(JOINING[mode], ephemeral=True)

    @app_commands.command(name="explain")
    @app_commands.describe(method="The decoding method")
    @app_commands.choices(method=METHODS)
    @app_commands.guild_only()
    async def explain(self, interaction: discord.Interaction, method: str) -> None:
        """How a decoding method picks the next token (once your instructor reveals it)."""
        settings = await guild_settings.load(self.bot.db, server_id(interaction))
        if method not in settings.get("revealed", []):
            raise LabError(
                "Not yet! First compare the methods with /compare and guess, as a group, "
                "what each one does. Your instructor will reveal the explanations."
            )
        title, text = EXPLANATIONS[method]
        embed = discord.Embed(title=title, description=text, colour=discord.Colour.teal())
        await interaction.response.send_message(embed=embed)
