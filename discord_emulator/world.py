"""The emulated Discord's world: snowflakes, the guild with its channels, roles and members,
and every message and interaction, as Discord's JSON payloads."""

from __future__ import annotations

import itertools
import json
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISCORD_EPOCH_MS = 1_420_070_400_000


class Snowflakes:
    """Discord-style ids: milliseconds since 2015 in the high bits, a counter in the low."""

    def __init__(self) -> None:
        self._counter = itertools.count()

    def next(self) -> int:
        """A new unique, increasing id."""
        ms = int(time.time() * 1000) - DISCORD_EPOCH_MS
        return (ms << 22) | (next(self._counter) & 0x3FFFFF)


def now_iso() -> str:
    """Discord's timestamp format."""
    return datetime.now(UTC).isoformat()


def user_payload(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    """A Discord user object."""
    return {
        "id": str(user_id),
        "username": name.lower().replace(" ", "_"),
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
        "public_flags": 0,
        "flags": 0,
        "primary_guild": None,
    }


@dataclass
class Role:
    """A server role."""

    id: int
    name: str
    permissions: int = 0
    position: int = 1

    def payload(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "permissions": str(self.permissions),
            "position": self.position,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "managed": False,
            "mentionable": False,
            "icon": None,
            "unicode_emoji": None,
            "flags": 0,
        }


@dataclass
class Member:
    """A user in the guild, with their role ids."""

    user: dict[str, Any]
    roles: list[int] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def payload(self) -> dict[str, Any]:
        return {
            "user": self.user,
            "roles": [str(r) for r in self.roles],
            "nick": None,
            "avatar": None,
            "banner": None,
            "communication_disabled_until": None,
            "premium_since": None,
            "pending": False,
            "joined_at": now_iso(),
            "deaf": False,
            "mute": False,
            "flags": 0,
        }


@dataclass
class Channel:
    """A text channel or a thread."""

    id: int
    name: str
    guild_id: int
    type: int = 0  # 0 text, 11 public thread
    parent_id: int | None = None
    owner_id: int | None = None

    def payload(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "name": self.name,
            "type": self.type,
            "guild_id": str(self.guild_id),
            "position": 0,
            "permission_overwrites": [],
            "nsfw": False,
            "topic": None,
            "last_message_id": None,
            "rate_limit_per_user": 0,
            "flags": 0,
        }
        if self.parent_id is not None:
            data["parent_id"] = str(self.parent_id)
        if self.type == 11:
            data["owner_id"] = str(self.owner_id)
            data["thread_metadata"] = {
                "archived": False,
                "auto_archive_duration": 1440,
                "locked": False,
                "archive_timestamp": now_iso(),
            }
            data["message_count"] = 0
            data["member_count"] = 1
            data["total_message_sent"] = 0
        return data


@dataclass
class Guild:
    """The one emulated server."""

    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)

    def everyone(self) -> Role:
        """@everyone has the guild's id."""
        return self.roles[self.id]

    def role_named(self, name: str) -> Role | None:
        return next((r for r in self.roles.values() if r.name == name), None)

    def channel_named(self, name: str) -> Channel | None:
        return next((c for c in self.channels.values() if c.name == name), None)

    def member_permissions(self, member: Member) -> int:
        """Permissions as Discord computes them from roles (owner and admin get all)."""
        if member.id == self.owner_id:
            return (1 << 53) - 1
        value = self.everyone().permissions
        for role_id in member.roles:
            value |= self.roles[role_id].permissions
        return (1 << 53) - 1 if value & 0x8 else value

    def payload(self) -> dict[str, Any]:
        """GUILD_CREATE data."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(self.owner_id),
            "application_id": None,  # set for guilds a bot created; never here
            "home_header": None,
            "region": "deprecated",
            "widget_enabled": False,
            "widget_channel_id": None,
            "max_presences": None,
            "max_members": 25_000_000,
            "max_stage_video_channel_users": 50,
            "max_video_channel_users": 25,
            "premium_subscription_count": 0,
            "safety_alerts_channel_id": None,
            "nsfw": False,
            "incidents_data": None,
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "preferred_locale": "en-GB",
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "emojis": [],
            "stickers": [],
            "roles": [r.payload() for r in self.roles.values()],
            "channels": [c.payload() for c in self.channels.values() if c.type != 11],
            "threads": [c.payload() for c in self.channels.values() if c.type == 11],
            "members": [m.payload() for m in self.members.values()],
            "member_count": len(self.members),
            "large": False,
            "unavailable": False,
            "joined_at": now_iso(),
            "voice_states": [],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
        }

    def rest_payload(self, *, with_counts: bool = False) -> dict[str, Any]:
        """The guild as `GET /guilds/{id}` returns it: no channels, members or other state
        that only GUILD_CREATE carries."""
        payload = {k: v for k, v in self.payload().items() if k not in _GATEWAY_ONLY}
        if with_counts:
            payload["approximate_member_count"] = len(self.members)
            payload["approximate_presence_count"] = 0
        return payload


_GATEWAY_ONLY = {
    "channels", "threads", "members", "member_count", "large", "unavailable", "joined_at",
    "voice_states", "presences", "stage_instances", "guild_scheduled_events",
}  # fmt: skip


@dataclass
class Upload:
    """A file the bot sent or a user attached."""

    filename: str
    data: bytes
    content_type: str = "application/octet-stream"


@dataclass
class Message:
    """A message as the emulator recorded it; `payload` is what Discord would return."""

    payload: dict[str, Any]
    files: list[Upload] = field(default_factory=list)
    ephemeral: bool = False
    interaction_id: int | None = None
    edits: int = 0
    earlier_contents: list[str] = field(default_factory=list)  # content before each edit

    @property
    def id(self) -> int:
        return int(self.payload["id"])

    @property
    def content(self) -> str:
        return self.payload.get("content") or ""

    @property
    def embeds(self) -> list[dict[str, Any]]:
        return self.payload.get("embeds") or []

    @property
    def components(self) -> list[dict[str, Any]]:
        return self.payload.get("components") or []

    def text(self) -> str:
        """Content and every embed's text, for assertions and the playground."""
        parts = [self.content]
        for embed in self.embeds:
            parts += [embed.get("title") or "", embed.get("description") or ""]
            parts += [f"{f['name']}: {f['value']}" for f in embed.get("fields") or []]
            parts.append((embed.get("footer") or {}).get("text") or "")
        return "\n".join(p for p in parts if p)

    def find_component(self, *, label: str | None = None, custom_id: str | None = None):
        """The first component with this label or custom id, searching nested rows."""
        for component in walk_components(self.components):
            if label is not None and component.get("label") == label:
                return component
            if custom_id is not None and component.get("custom_id") == custom_id:
                return component
        return None


def walk_components(components: list[dict[str, Any]]):
    """Every component, rows and containers included, depth first."""
    for component in components:
        yield component
        yield from walk_components(component.get("components") or [])
        if isinstance(component.get("component"), dict):
            yield from walk_components([component["component"]])


def number_components(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies with Discord's component ids: those left out get the next unused number, in
    order, as Discord fills them in for messages and modals."""
    copied = json.loads(json.dumps(components))
    taken = {c["id"] for c in walk_components(copied) if isinstance(c.get("id"), int)}
    numbers = (n for n in itertools.count(1) if n not in taken)
    for component in walk_components(copied):
        if not isinstance(component.get("id"), int):
            component["id"] = next(numbers)
    return copied


@dataclass
class Interaction:
    """One interaction the emulator dispatched, and how the bot answered it."""

    id: int
    token: str
    type: int
    user_id: int
    channel_id: int
    created: float  # emulator clock, seconds
    response_type: int | None = None
    responded_at: float | None = None
    original: Message | None = None
    followups: list[Message] = field(default_factory=list)
    modal: dict[str, Any] | None = None
    source_message_id: int | None = None  # the message a component lives on
    last_activity: float = 0.0
    choices: list[dict[str, Any]] | None = None  # an autocomplete answer

    def messages(self) -> list[Message]:
        """The original response (if any) and the follow-ups, in order; deleted ones left out."""
        found = ([self.original] if self.original else []) + self.followups
        return [m for m in found if not m.payload.get("deleted")]
