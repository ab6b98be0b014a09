"""Text for /help and /about, built from the command tree and the runner's info."""

from __future__ import annotations

import discord
from discord import app_commands

from bot.redact import redact_url, scrub_urls
from model_runner.protocol import RunnerInfo

EMBED_COLOUR = discord.Colour.from_rgb(88, 101, 242)


def command_lines(commands: list[app_commands.Command | app_commands.Group]) -> list[str]:
    """One line per runnable command, `/name sub - description`, instructor ones marked."""
    lines = []
    for top in sorted(commands, key=lambda c: c.name):
        instructor = top.default_permissions is not None and top.default_permissions.value != 0
        mark = " (instructors)" if instructor else ""
        if isinstance(top, app_commands.Group):
            leaves = [c for c in top.walk_commands() if isinstance(c, app_commands.Command)]
        else:
            leaves = [top]
        for command in leaves:
            own = " (instructors)" if command.extras.get("instructor") and not mark else ""
            lines.append(f"`/{command.qualified_name}`{mark}{own} - {command.description}")
    return lines


def help_embeds(lines: list[str]) -> list[discord.Embed]:
    """Pack the lines into as few embeds as Discord's 4096-character limit allows."""
    embeds: list[discord.Embed] = []
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > 4000:
            embeds.append(discord.Embed(description="\n".join(chunk), colour=EMBED_COLOUR))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk or not embeds:
        embeds.append(discord.Embed(description="\n".join(chunk), colour=EMBED_COLOUR))
    embeds[0].title = "LLM Lab Bot: commands"
    embeds[-1].set_footer(text="Type / in the message box to see each command's options.")
    return embeds[:10]


def format_duration(seconds: float) -> str:
    """`3 d 4 h`, `2 h 5 min`, `7 min 3 s` or `12 s`."""
    s = int(seconds)
    days, s = divmod(s, 86_400)
    hours, s = divmod(s, 3_600)
    minutes, s = divmod(s, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {s} s"
    return f"{s} s"


def runner_location(location: str, instructor: bool) -> str:
    """Where the runner is, as /about shows it: students learn only whether it is a separate
    server; instructors see its address without credentials, path or query."""
    if not location.lower().startswith(("http://", "https://")):
        return location  # "in-process"
    return redact_url(location) if instructor else "a separate model server"


def about_embed(
    *, version: str, info: RunnerInfo | None, location: str, uptime_s: float, latency_ms: float
) -> discord.Embed:
    """Version, model, device and uptime."""
    embed = discord.Embed(
        title="LLM Lab Bot",
        description="A class lab on how language models work: tokens, decoding, fine-tuning "
        "and the ethics around them.",
        colour=EMBED_COLOUR,
    )
    embed.add_field(name="Version", value=version)
    embed.add_field(name="Uptime", value=format_duration(uptime_s))
    embed.add_field(name="Gateway latency", value=f"{latency_ms:.0f} ms")
    if info is None:
        embed.add_field(name="Model", value=f"runner not answering ({location})", inline=False)
        return embed
    embed.add_field(name="Model", value=f"`{info.model}`", inline=False)
    error = scrub_urls(info.error or "", show=True)[:300]
    status = f"{info.status}: {error}" if error else info.status
    embed.add_field(name="Status", value=status)
    embed.add_field(name="Device", value=f"{info.device or '-'} {info.dtype}".strip())
    if info.parameters:
        embed.add_field(name="Parameters", value=f"{info.parameters / 1e6:.1f} M")
    embed.add_field(name="Runner", value=location)
    return embed
