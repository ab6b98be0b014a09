"""Checking a command's options on the server, as Discord's client would have.

Discord's client only offers a command's choices and keeps numbers inside their range, but a
crafted interaction can send anything, and discord.py passes it on unchecked. A command that
stores what it is given would keep a forged value for good, so cogs call `check_options`
before their commands run: a value outside its choices, range or length is refused with a
short message saying what is allowed (string lengths are checked by each command).
"""

from __future__ import annotations

import discord
from discord import AppCommandOptionType, app_commands

from bot.errors import LabError
from bot.formatting import clip

NUMBERS = (AppCommandOptionType.integer, AppCommandOptionType.number)


def check_options(interaction: discord.Interaction) -> None:
    """Refuse the interaction if one of its options breaks the command's declared limits."""
    command = interaction.command
    if not isinstance(command, app_commands.Command):
        return
    for parameter in command.parameters:
        value = getattr(interaction.namespace, parameter.name, None)
        if value is not None:
            problem = _problem(parameter, value)
            if problem:
                raise LabError(f"`{parameter.display_name}` {problem}")


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
    return ""


def _number_problem(parameter: app_commands.Parameter, value) -> str:
    whole = parameter.type is AppCommandOptionType.integer
    kinds = (int,) if whole else (int, float)
    if isinstance(value, bool) or not isinstance(value, kinds):
        return "must be a whole number." if whole else "must be a number."
    low, high = parameter.min_value, parameter.max_value
    if (low is not None and value < low) or (high is not None and value > high):
        if low is not None and high is not None:
            return f"must be between {low:g} and {high:g}."
        return f"must be at least {low:g}." if low is not None else f"must be at most {high:g}."
    return ""
