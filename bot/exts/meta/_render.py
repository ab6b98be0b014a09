"""Text for /help and /about, built from the command tree and the runner's info."""

from __future__ import annotations

import math

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
    embeds[-1].set_footer(
        text="Type / in the message box to see each command's options. "
        "/guide walks through the lab, task by task."
    )
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


DELAYED_S = 5.0  # a heartbeat answered slower than this was held up on the bot's machine
STALE_BEATS = 2  # heartbeats in a row without an answer before the figure is called stale


def describe_latency(
    latency_s: float, since_ack_s: float | None = None, interval_s: float | None = None
) -> str:
    """discord.py's heartbeat latency (`Client.latency`, seconds) as an instructor reads it.

    The figure is the time between the bot's last heartbeat and Discord's answer. A heartbeat
    is sent and its answer read by the bot's own threads, so when training or another heavy
    job keeps the machine's CPUs busy the figure grows to many seconds although the network is
    fine. `since_ack_s` (seconds since the last answer) and `interval_s` (Discord's heartbeat
    interval) tell a stale figure: no answer for several intervals.
    """
    if since_ack_s is not None and interval_s and since_ack_s > STALE_BEATS * interval_s:
        return (
            f"no heartbeat answered for {format_duration(since_ack_s)}: the bot's link to "
            "Discord is stalling (the machine is too busy, or the network is down)"
        )
    if math.isnan(latency_s):
        return "not connected to Discord right now"
    if math.isinf(latency_s) or latency_s < 0:
        return "not measured yet (the bot has only just connected)"
    if latency_s >= DELAYED_S:
        return (
            f"the bot's heartbeat was delayed ({format_duration(latency_s)}): the machine is "
            "busy, for example training a fine-tune, so replies may be slow for now"
        )
    if latency_s < 0.05:
        return "under 0.1 s"
    return f"about {latency_s:.1f} s" + (" (slow)" if latency_s >= 1 else "")


def runner_location(location: str, instructor: bool) -> str:
    """Where the runner is, as /about shows it: students learn only whether it is a separate
    server; instructors see its address without credentials, path or query."""
    if not location.lower().startswith(("http://", "https://")):
        return location  # "in-process"
    return redact_url(location) if instructor else "a separate model server"


def about_embed(
    *, version: str, info: RunnerInfo | None, location: str, uptime_s: float, latency: str
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
    embed.add_field(name="Discord latency", value=latency)
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
