"""`DiscordEmulator`: a local Discord on loopback for end-to-end tests and the playground.

It serves Discord's HTTP API under `<base>/api/v10` and the gateway at `<base>/gateway`, keeps
one guild with channels, roles and members, records everything the bot sends, and checks it
against Discord's published contract (see `contract.py`). Tests and the playground act as
users through `discord_emulator.actions`.

Fault injection: `rate_limit(...)` answers matching requests with 429 and `retry_after`;
`fail_next(...)` answers with a 5xx; `gateway.drop_connection()` drops the WebSocket.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from discord_emulator import rest
from discord_emulator.contract import Violation
from discord_emulator.gateway import Gateway
from discord_emulator.pace import Pace
from discord_emulator.ratelimits import RateLimits
from discord_emulator.world import (
    Channel,
    Guild,
    Interaction,
    Member,
    Message,
    Role,
    Snowflakes,
    Upload,
    user_payload,
)

log = logging.getLogger(__name__)

API_PREFIX = "/api/v10"
MANAGE_GUILD = 1 << 5
EVERYONE_PERMISSIONS = (1 << 10) | (1 << 11) | (1 << 14) | (1 << 15) | (1 << 16) | (1 << 31)


@dataclass
class Fault:
    """A planted failure: the next `count` requests matching `method` and `path` fail."""

    method: str
    path: str  # spec template, e.g. "/channels/{channel_id}/messages"
    status: int
    count: int
    retry_after: float = 0.0


def bot_token(application_id: int) -> str:
    """A token shaped like Discord's: the bot's id in base64, a timestamp part and an HMAC
    part (some client libraries read the application id out of the first part)."""
    head = base64.urlsafe_b64encode(str(application_id).encode()).decode().rstrip("=")
    stamp = base64.urlsafe_b64encode(secrets.token_bytes(4)).decode().rstrip("=")
    return f"{head}.{stamp}.{secrets.token_urlsafe(27)}"


class DiscordEmulator:
    """The whole emulated Discord: world, REST API, gateway, contract checks, faults."""

    def __init__(
        self,
        *,
        token: str | None = None,
        time_scale: float = 1.0,
        privileged_intents: int = 0,
        identity: dict[str, Any] | None = None,
    ) -> None:
        """`identity` (from `identity.snapshot`) makes this the same server as an earlier one."""
        self.ids = Snowflakes()
        # Discord's clocks (heartbeat, identify, rate-limit windows), scaled for tests.
        self.pace = Pace(time_scale)
        # Privileged intents enabled for the application in the Developer Portal.
        self.privileged_intents = privileged_intents
        self.application_id = self.ids.next()
        self.token = token or bot_token(self.application_id)
        self.bot_user = user_payload(self.application_id, "LLM Lab Bot", bot=True)
        self.owner = user_payload(self.ids.next(), "Server Owner")
        self.gateway = Gateway(self, self.pace)
        self.rate_limits = RateLimits(self.pace)
        self.guild = self._build_guild()
        self.messages: dict[int, Message] = {}
        self.channel_messages: dict[int, list[int]] = {}
        self.interactions: dict[int, Interaction] = {}
        self.interactions_by_token: dict[str, Interaction] = {}
        self.uploads: dict[int, Upload] = {}
        self.commands: dict[str, dict[str, dict[str, Any]]] = {"global": {}}  # scope -> name
        self.command_puts: list[str] = []  # scopes of every bulk overwrite, for sync tests
        self.violations: list[Violation] = []
        self.requests: list[tuple[str, str]] = []  # (method, template) of every REST call
        self.faults: list[Fault] = []
        self.pending_events: list[tuple[str, dict[str, Any]]] = []
        self.clock_offset = 0.0
        self.activity = asyncio.Event()
        # True when the bot runs in this event loop (the harness): actions then wait for its
        # interaction handlers to return instead of for a quiet spell.
        self.bot_in_process = False
        # Told of every message as it is posted (edited=False) and after each edit.
        self.message_listeners: list[Callable[[Message, bool], None]] = []
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        if identity is not None:
            from discord_emulator.identity import restore

            restore(self, identity, token)

    # --- world ---------------------------------------------------------------------------

    def _build_guild(self) -> Guild:
        guild_id = self.ids.next()
        guild = Guild(id=guild_id, name="Language Models Lab", owner_id=int(self.owner["id"]))
        guild.roles[guild_id] = Role(guild_id, "@everyone", EVERYONE_PERMISSIONS, position=0)
        for name in ("general", "lab"):
            channel = Channel(self.ids.next(), name, guild_id)
            guild.channels[channel.id] = channel
        guild.members[int(self.bot_user["id"])] = Member(self.bot_user)
        guild.members[int(self.owner["id"])] = Member(self.owner)
        return guild

    def guilds(self) -> list[Guild]:
        """The guilds the bot is in (one)."""
        return [self.guild]

    def add_role(self, name: str, permissions: int = 0) -> Role:
        """A role with this name, created if it does not exist yet."""
        role = self.guild.role_named(name)
        if role is None:
            position = len(self.guild.roles)
            role = Role(self.ids.next(), name, permissions, position)
            self.guild.roles[role.id] = role
            # Discord tells connected bots about new roles; sent before the next interaction.
            self.pending_events.append(
                ("GUILD_ROLE_CREATE", {"guild_id": str(self.guild.id), "role": role.payload()})
            )
        return role

    async def flush_events(self) -> None:
        """Dispatch the world changes (new roles) that happened since the last dispatch."""
        while self.pending_events and self.gateway.session is not None:
            event, data = self.pending_events.pop(0)
            await self.gateway.dispatch(event, data)

    def add_member(self, name: str, roles: Sequence[str] = ()) -> Member:
        """A guild member called `name` with the named roles (created as needed)."""
        member = next(
            (m for m in self.guild.members.values() if m.user["global_name"] == name), None
        )
        if member is None:
            member = Member(user_payload(self.ids.next(), name))
            self.guild.members[member.id] = member
        member.roles = [self.add_role(r).id for r in roles]
        return member

    def now(self) -> float:
        """The emulator's clock; tests move it forward with `advance_clock`."""
        return time.monotonic() + self.clock_offset

    def advance_clock(self, seconds: float) -> None:
        """Pretend `seconds` have passed (for the 3 s and 15 min windows)."""
        self.clock_offset += seconds

    def ready_payload(self, session_id: str) -> dict[str, Any]:
        """READY data for a new session."""
        return {
            "v": 10,
            "user": {**self.bot_user, "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self.guilds()],
            "session_id": session_id,
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "shard": [0, 1],
        }

    @property
    def gateway_url(self) -> str:
        return self.base_url.replace("http://", "ws://") + "/gateway"

    @property
    def api_base(self) -> str:
        """What the bot's `LABBOT_DISCORD_API_BASE` must be."""
        return self.base_url + API_PREFIX

    # --- recording ----------------------------------------------------------------------

    def record_violation(self, endpoint: str, rule: str, detail: str) -> Violation:
        violation = Violation(endpoint, rule, detail)
        self.violations.append(violation)
        log.warning("contract violation: %s", violation)
        return violation

    def touch(self) -> None:
        """Wake anyone waiting for the bot to do something."""
        self.activity.set()
        self.activity = asyncio.Event()

    def store_message(self, channel_id: int, message: Message) -> Message:
        self.messages[message.id] = message
        self.channel_messages.setdefault(channel_id, []).append(message.id)
        self.message_changed(message, edited=False)
        return message

    def message_changed(self, message: Message, *, edited: bool = True) -> None:
        """Tell the listeners about a new or edited message, and wake waiters."""
        for listener in self.message_listeners:
            listener(message, edited)
        self.touch()

    def channel_history(self, channel_id: int) -> list[Message]:
        """Messages in a channel, oldest first (ephemeral ones excluded)."""
        ids = self.channel_messages.get(channel_id, [])
        return [self.messages[i] for i in ids if not self.messages[i].ephemeral]

    def new_interaction(self, kind: int, user_id: int, channel_id: int) -> Interaction:
        interaction = Interaction(
            id=self.ids.next(),
            token=secrets.token_urlsafe(48),
            type=kind,
            user_id=user_id,
            channel_id=channel_id,
            created=self.now(),
        )
        interaction.last_activity = interaction.created
        self.interactions[interaction.id] = interaction
        self.interactions_by_token[interaction.token] = interaction
        return interaction

    def store_upload(self, upload: Upload) -> dict[str, Any]:
        """Keep a file for download and return Discord's attachment object for it."""
        upload_id = self.ids.next()
        self.uploads[upload_id] = upload
        url = f"{self.base_url}/attachments/{upload_id}/{upload.filename}"
        return {
            "id": str(upload_id),
            "filename": upload.filename,
            "size": len(upload.data),
            "url": url,
            "proxy_url": url,
            "content_type": upload.content_type or None,
        }

    # --- faults -------------------------------------------------------------------------

    def rate_limit(self, method: str, path: str, *, retry_after: float = 0.3, count: int = 1):
        """The next `count` matching requests get 429 with `retry_after` seconds."""
        self.faults.append(Fault(method.upper(), path, 429, count, retry_after))

    def fail_next(self, method: str, path: str, *, status: int = 500, count: int = 1):
        """The next `count` matching requests get a server error."""
        self.faults.append(Fault(method.upper(), path, status, count))

    def take_fault(self, method: str, template: str) -> Fault | None:
        for fault in self.faults:
            if fault.method == method and fault.path == template and fault.count > 0:
                fault.count -= 1
                return fault
        return None

    # --- lifecycle ----------------------------------------------------------------------

    def app(self) -> web.Application:
        """The aiohttp application: REST routes, gateway, attachment downloads."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self.gateway.handle)
        rest.add_routes(app, self, API_PREFIX)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on loopback (a free port by default); returns the base URL."""
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        self.base_url = f"http://{host}:{self._runner.addresses[0][1]}"
        return self.base_url

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
