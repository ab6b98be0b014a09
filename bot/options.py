"""Checking a command's options on the server, as Discord's client would have.

Discord's client only offers a command's choices and keeps numbers inside their range, but a
crafted interaction can send anything, and discord.py passes it on unchecked. A command that
stores what it is given would keep a forged value for good, so the command tree calls
`check_options` before any command runs: a value of the wrong type, or outside its choices
or range, is refused with a short message saying what is allowed (string lengths are
checked by each command).
"""

from __future__ import annotations

import math

import discord
from discord import AppCommandOptionType, app_commands

from bot.errors import LabError
from bot.formatting import clip

NUMBERS = (AppCommandOptionType.integer, AppCommandOptionType.number)
RESOLVED = (
    AppCommandOptionType.user,
    AppCommandOptionType.channel,
    AppCommandOptionType.role,
    AppCommandOptionType.mentionable,
    AppCommandOptionType.attachment,
)


def check_options(interaction: discord.Interaction) -> None:
    """Refuse the interaction if one of its options breaks the command's declared limits."""
    command = interaction.command
    if not isinstance(command, app_commands.Command):
        return
    try:
        sent = vars(interaction.namespace)  # only the options the interaction carries
    except (TypeError, ValueError):  # discord.py could not read a value (a number as "abc")
        raise LabError("An option has a value of the wrong type.") from None
    for parameter in command.parameters:
        name = parameter.display_name
        if parameter.name not in sent:
            if parameter.required:
                raise LabError(f"`{name}` is required.")
            continue
        value = sent[parameter.name]
        if value is None:  # Discord's client never sends an empty value; leave it out instead
            raise LabError(
                f"`{name}` is required." if parameter.required else f"`{name}` is empty."
            )
        problem = _problem(parameter, value)
        if problem:
            raise LabError(f"`{name}` {problem}")


def _problem(parameter: app_commands.Parameter, value) -> str:
    """What is wrong with `value` for `parameter`, or an empty string."""
    if parameter.choices:
        allowed = [choice.value for choice in parameter.choices]
        if value not in allowed:
            names = ", ".join(choice.name for choice in parameter.choices)
            return clip(f"must be one of: {names}.", 1500)[0]
        return ""
    if parameter.type in NUMBERS:
        return _number_problem(parameter, value)
    if parameter.type is AppCommandOptionType.string and not isinstance(value, str):
        return "must be text."
    if parameter.type is AppCommandOptionType.boolean and not isinstance(value, bool):
        return "must be true or false."
    if parameter.type in RESOLVED and type(value) is discord.Object:
        # The interaction named something it did not include (Discord always includes it).
        return "was not found: pick it again from Discord's list."
    return ""


def _number_problem(parameter: app_commands.Parameter, value) -> str:
    whole = parameter.type is AppCommandOptionType.integer
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds) or not math.isfinite(value):
        return "must be a whole number." if whole else "must be a number."
    low, high = parameter.min_value, parameter.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return f"must be between {low:g} and {high:g}."
        return f"must be at least {low:g}." if low is not None else f"must be at most {high:g}."
    return ""
