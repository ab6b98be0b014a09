"""What the playground user typed, turned into what Discord's client would send: local files
for attachment options, and form fields named by the labels the form shows."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any

from bot.playground.render import modal_fields, modal_hint
from discord_emulator import ActionError, Actor, DiscordEmulator, Upload

SUB_COMMAND, SUB_COMMAND_GROUP, ATTACHMENT = 1, 2, 11


def option_types(emulator: DiscordEmulator, words: tuple[str, ...]) -> dict[str, int]:
    """Option name -> Discord option type of the registered `/words...` ({} if unknown)."""
    node: dict[str, Any] | None = None
    for scope in (f"guild:{emulator.guild.id}", "global"):
        node = node or emulator.commands.get(scope, {}).get(words[0])
    for word in words[1:]:
        options = (node or {}).get("options") or []
        node = next(
            (
                o
                for o in options
                if o["name"] == word and o["type"] in (SUB_COMMAND, SUB_COMMAND_GROUP)
            ),
            None,
        )
    return {o["name"]: o["type"] for o in (node or {}).get("options") or []}


def attachment(raw: str) -> Upload:
    """The local file `@path` (or `path`) as an upload."""
    path = Path(raw.removeprefix("@")).expanduser()
    if not path.is_file():
        raise ActionError(f"no file {path} to attach")
    kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return Upload(path.name, path.read_bytes(), kind)


def slash_options(
    emulator: DiscordEmulator, words: tuple[str, ...], given: dict[str, str]
) -> dict[str, Any]:
    """Option values for `Actor.slash`: files for attachment options, text for the rest (a
    leading @ elsewhere is just text, as `@everyone` is in Discord's message box)."""
    types = option_types(emulator, words)
    return {
        name: attachment(value) if types.get(name) == ATTACHMENT else value
        for name, value in given.items()
    }


def modal_values(actor: Actor, given: dict[str, str]) -> dict[str, str]:
    """Field custom id -> value for the newest form the bot opened for `actor`; fields are
    named by their label (any case) or custom id."""
    opened = [
        i.modal
        for i in actor.emu.interactions.values()
        if i.user_id == actor.member.id and i.modal is not None
    ]
    if not opened:
        raise ActionError("the bot has not opened a form for you")
    fields = modal_fields(opened[-1])
    by_name = {label.casefold(): custom_id for custom_id, label in fields}
    by_name.update({custom_id: custom_id for custom_id, _ in fields})
    values = {}
    for name, value in given.items():
        custom_id = by_name.get(name) or by_name.get(name.casefold())
        if custom_id is None:
            hint = modal_hint([label for _, label in fields])
            raise ActionError(f"the form has no field {name!r}; answer with: {hint}")
        values[custom_id] = value
    return values
