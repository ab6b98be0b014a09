"""The emulated server's lasting identity, as JSON: the application id, the guild with its
channels, roles and members, and the registered commands.

Discord keeps these between a bot's restarts, and the bot's database is keyed by them (guild,
role and member ids). An emulator built with a snapshot of an earlier one (`DiscordEmulator(
identity=...)`) is the same server to the bot; the playground saves one in its data directory.
Messages and interactions are not kept: a restarted Discord client would not replay them.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from discord_emulator.world import Channel, Guild, Member, Role, user_payload

if TYPE_CHECKING:
    from discord_emulator.server import DiscordEmulator

VERSION = 1


def snapshot(emu: DiscordEmulator) -> dict[str, Any]:
    """Everything that makes `emu` the server it is, as plain JSON data."""
    guild = emu.guild
    return {
        "version": VERSION,
        "application_id": str(emu.application_id),
        "owner": emu.owner,
        "guild": {"id": str(guild.id), "name": guild.name},
        "roles": [
            {"id": str(r.id), "name": r.name, "permissions": r.permissions, "position": r.position}
            for r in guild.roles.values()
        ],
        "channels": [
            {
                "id": str(c.id),
                "name": c.name,
                "type": c.type,
                "parent_id": None if c.parent_id is None else str(c.parent_id),
                "owner_id": None if c.owner_id is None else str(c.owner_id),
            }
            for c in guild.channels.values()
        ],
        "members": [
            {"user": m.user, "roles": [str(r) for r in m.roles]}
            for m in guild.members.values()
            if m.id != emu.application_id
        ],
        "commands": emu.commands,
    }


def restore(emu: DiscordEmulator, data: dict[str, Any], token: str | None = None) -> None:
    """Make a new (not yet started) `emu` the server `data` describes; ValueError if it
    describes none."""
    from discord_emulator.server import bot_token

    try:
        if data.get("version") != VERSION:
            raise ValueError(f"version {data.get('version')!r}, not {VERSION}")
        application_id = int(data["application_id"])
        owner = dict(data["owner"])
        guild = Guild(int(data["guild"]["id"]), str(data["guild"]["name"]), int(owner["id"]))
        for role in data["roles"]:
            guild.roles[int(role["id"])] = Role(
                int(role["id"]), str(role["name"]), int(role["permissions"]), int(role["position"])
            )
        for channel in data["channels"]:
            guild.channels[int(channel["id"])] = Channel(
                int(channel["id"]),
                str(channel["name"]),
                guild.id,
                type=int(channel["type"]),
                parent_id=_optional_id(channel["parent_id"]),
                owner_id=_optional_id(channel["owner_id"]),
            )
        bot_user = user_payload(application_id, "LLM Lab Bot", bot=True)
        guild.members[application_id] = Member(bot_user)
        for member in data["members"]:
            user = dict(member["user"])
            guild.members[int(user["id"])] = Member(user, [int(r) for r in member["roles"]])
        commands = {str(scope): dict(named) for scope, named in data["commands"].items()}
        guild.everyone()  # the @everyone role must be there
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise ValueError(f"not an emulated server ({type(error).__name__}: {error})") from None
    emu.application_id = application_id
    emu.token = token or bot_token(application_id)
    emu.bot_user = bot_user
    emu.owner = owner
    emu.guild = guild
    emu.commands = {"global": {}, **commands}


def _optional_id(raw: Any) -> int | None:
    return None if raw is None else int(raw)


def load(path: Path) -> dict[str, Any] | None:
    """The snapshot saved at `path`, or None when there is none; ValueError if unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"cannot read {path}: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def save(emu: DiscordEmulator, path: Path) -> None:
    """Write `emu`'s snapshot to `path` (atomically: a crash leaves the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(snapshot(emu), indent=1), encoding="utf-8")
    os.replace(partial, path)
