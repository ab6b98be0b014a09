"""The emulated HTTP API: the endpoints the bot uses, each checked against the contract.

Routes are registered under the spec's own path templates, so each request is validated
against exactly the schema Discord publishes for it. An endpoint the emulator does not
implement answers 404 and is recorded as a violation, so a new call shows up in the tests.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import BodyPartReader, web

from discord_emulator import contract, intents, ratelimits
from discord_emulator.pace import SESSION_STARTS_PER_DAY
from discord_emulator.world import Message, Upload, now_iso, number_components

if TYPE_CHECKING:
    from discord_emulator.server import DiscordEmulator

EPHEMERAL = 1 << 6
LOADING = 1 << 7
Body = dict[str, Any]


@dataclass
class Created:
    """A handler's answer that Discord sends as 201 Created."""

    body: Body


def _flag(request: web.Request, name: str) -> bool:
    """A boolean query parameter as Discord reads it (`true`/`1`; absent = false)."""
    return request.query.get(name, "false").lower() in ("true", "1")


class DiscordError(Exception):
    """An error answer in Discord's shape."""

    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code = status, code


async def _read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """JSON body, or multipart `payload_json` plus `files[n]`."""
    if request.content_type == "multipart/form-data":
        body: Any = {}
        files: list[Upload] = []
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader):  # nested multipart: not Discord's shape
                raise DiscordError(400, 50035, "Invalid Form Body: nested multipart")
            if part.name == "payload_json":
                body = json.loads(await part.text())
            elif part.filename is not None:
                data = await part.read()
                files.append(
                    Upload(part.filename, bytes(data), part.headers.get("Content-Type", ""))
                )
        return body, files
    if request.can_read_body:
        raw = await request.read()
        return (json.loads(raw) if raw else None), []
    return None, []


def add_routes(app: web.Application, emu: DiscordEmulator, prefix: str) -> None:
    """Register every emulated endpoint on `app`."""
    api = Api(emu)
    routes: list[tuple[str, str, Callable[..., Awaitable[Any]], bool]] = [
        ("GET", "/users/@me", api.me, True),
        ("GET", "/oauth2/applications/@me", api.application, True),
        ("GET", "/gateway", api.gateway, False),
        ("GET", "/gateway/bot", api.gateway, True),
        ("GET", "/applications/{application_id}/commands", api.get_commands, True),
        ("PUT", "/applications/{application_id}/commands", api.put_commands, True),
        (
            "GET",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            api.get_commands,
            True,
        ),
        (
            "PUT",
            "/applications/{application_id}/guilds/{guild_id}/commands",
            api.put_commands,
            True,
        ),
        *[
            route
            for base in (
                "/applications/{application_id}/commands",
                "/applications/{application_id}/guilds/{guild_id}/commands",
            )
            for route in (
                ("POST", base, api.create_command, True),
                ("GET", base + "/{command_id}", api.get_command, True),
                ("DELETE", base + "/{command_id}", api.delete_command, True),
            )
        ],
        ("GET", "/guilds/{guild_id}", api.get_guild, True),
        ("GET", "/guilds/{guild_id}/members/{user_id}", api.get_member, True),
        (
            "POST",
            "/interactions/{interaction_id}/{interaction_token}/callback",
            api.callback,
            False,
        ),
        ("POST", "/webhooks/{webhook_id}/{webhook_token}", api.followup, False),
        (
            "GET",
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            api.get_webhook_message,
            False,
        ),
        (
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            api.edit_webhook_message,
            False,
        ),
        (
            "DELETE",
            "/webhooks/{webhook_id}/{webhook_token}/messages/@original",
            api.delete_webhook_message,
            False,
        ),
        (
            "GET",
            "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
            api.get_webhook_message,
            False,
        ),
        (
            "PATCH",
            "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
            api.edit_webhook_message,
            False,
        ),
        (
            "DELETE",
            "/webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
            api.delete_webhook_message,
            False,
        ),
        ("GET", "/channels/{channel_id}", api.get_channel, True),
        ("GET", "/channels/{channel_id}/messages", api.channel_messages, True),
        ("POST", "/channels/{channel_id}/messages", api.create_message, True),
        ("GET", "/channels/{channel_id}/messages/{message_id}", api.get_message, True),
        ("PATCH", "/channels/{channel_id}/messages/{message_id}", api.edit_message, True),
        ("DELETE", "/channels/{channel_id}/messages/{message_id}", api.delete_message, True),
        ("POST", "/channels/{channel_id}/threads", api.create_thread, True),
        ("POST", "/channels/{channel_id}/messages/{message_id}/threads", api.create_thread, True),
    ]
    for method, template, handler, needs_auth in routes:
        app.router.add_route(
            method, prefix + template, _wrap(emu, method, template, handler, needs_auth)
        )
    app.router.add_get("/attachments/{upload_id}/{filename}", api.download)
    app.router.add_route("*", prefix + "/{tail:.*}", _unknown(emu, prefix))


def _wrap(emu: DiscordEmulator, method: str, template: str, handler, needs_auth: bool):
    endpoint = f"{method} {template}"

    async def handle(request: web.Request) -> web.StreamResponse:
        emu.requests.append((method, template))
        if needs_auth and request.headers.get("Authorization") != f"Bot {emu.token}":
            return _error(401, 0, "401: Unauthorized")
        verdict = emu.rate_limits.take(method, template, dict(request.match_info))
        fault = emu.take_fault(method, template)
        if fault is not None and fault.status == 429:
            verdict = ratelimits.Verdict(verdict.headers, fault.retry_after)
        if verdict.retry_after is not None:
            body, headers = verdict.refusal()
            return _json(body, status=429, headers={**headers, "Via": "1.1 google"})
        response = await answer(request, fault)
        response.headers.update(verdict.headers)
        return response

    async def answer(request: web.Request, fault) -> web.Response:
        if fault is not None:
            return _error(fault.status, 0, "emulated server error")
        try:
            body, files = await _read_body(request)
        except DiscordError as error:
            return _error(error.status, error.code, str(error))
        if body is not None and contract.known_operation(template, method):
            problems = contract.check_schema(template, method, body)
            if problems:
                emu.record_violation(endpoint, "openapi", "; ".join(problems))
                return _error(400, 50035, "Invalid Form Body: " + "; ".join(problems))
        for rule, detail in contract.check_files([(f.filename, f.data) for f in files]):
            emu.record_violation(endpoint, rule, detail)
            return _error(413, 40005, "Request entity too large")
        try:
            result = await handler(request, body if body is not None else {}, files, endpoint)
        except DiscordError as error:
            return _error(error.status, error.code, str(error))
        emu.touch()
        if result is None:
            return web.Response(status=204)
        status, reply = (201, result.body) if isinstance(result, Created) else (200, result)
        # The emulator's own answers must be what Discord answers: a field the spec requires
        # and the emulator leaves out fails every end-to-end test, not a class's real server.
        for problem in contract.check_response(template, method, status, reply):
            emu.record_violation(endpoint, "emulator_response", problem)
        return _json(reply, status=status)

    return handle


def _unknown(emu: DiscordEmulator, prefix: str):
    async def handle(request: web.Request) -> web.Response:
        path = request.path.removeprefix(prefix)
        emu.record_violation(
            f"{request.method} {path}", "unimplemented", "the emulator has no such endpoint"
        )
        return _error(404, 0, "404: Not Found")

    return handle


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Exactly `application/json`, as Discord sends it (discord.py compares the header)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


def _error(status: int, code: int, message: str) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


class Api:
    """Endpoint implementations; each takes (request, body, files, endpoint)."""

    def __init__(self, emu: DiscordEmulator) -> None:
        self.emu = emu

    # --- identity and gateway --------------------------------------------------------------

    async def me(self, request, body, files, endpoint) -> Body:
        return {
            **self.emu.bot_user,
            "verified": True,
            "mfa_enabled": False,
            "flags": 0,
            "locale": "en-US",
        }

    async def application(self, request, body, files, endpoint) -> Body:
        return {
            "id": str(self.emu.application_id),
            "name": "LLM Lab Bot",
            "icon": None,
            "description": "",
            "bot_public": False,
            "bot_require_code_grant": False,
            "owner": self.emu.owner,
            "verify_key": "0" * 64,
            "flags": 0,
            "team": None,
            "summary": "",
            "rpc_origins": [],
            "bot": self.emu.bot_user,
            "type": None,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "approximate_guild_count": len(self.emu.guilds()),
            "approximate_user_install_count": 0,
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
        }

    async def gateway(self, request, body, files, endpoint) -> Body:
        return {
            "url": self.emu.gateway_url,
            "shards": 1,
            "session_start_limit": {
                "total": SESSION_STARTS_PER_DAY,
                "remaining": self.emu.gateway.session_starts_remaining,
                "reset_after": 86_400_000,
                "max_concurrency": 1,
            },
        }

    # --- application commands ------------------------------------------------------------

    def _scope(self, request: web.Request) -> str:
        if int(request.match_info["application_id"]) != self.emu.application_id:
            raise DiscordError(403, 50001, "Missing Access")
        guild_id = request.match_info.get("guild_id")
        return f"guild:{guild_id}" if guild_id else "global"

    async def get_commands(self, request, body, files, endpoint) -> list[Body]:
        return list(self.emu.commands.get(self._scope(request), {}).values())

    async def put_commands(self, request, body, files, endpoint) -> list[Body]:
        scope = self._scope(request)
        self._check_commands(endpoint, body)
        previous = self.emu.commands.get(scope, {})
        registered = {c["name"]: self._registered(scope, c, previous.get(c["name"])) for c in body}
        self.emu.commands[scope] = registered
        self.emu.command_puts.append(scope)
        return list(registered.values())

    async def create_command(self, request, body, files, endpoint) -> Body | Created:
        """One command: a new name is created (201), an existing name is replaced (200)."""
        scope = self._scope(request)
        self._check_commands(endpoint, [body])
        commands = self.emu.commands.setdefault(scope, {})
        old = commands.get(body["name"])
        commands[body["name"]] = command = self._registered(scope, body, old)
        return command if old else Created(command)

    async def get_command(self, request, body, files, endpoint) -> Body:
        return self._command(request)

    async def delete_command(self, request, body, files, endpoint) -> None:
        command = self._command(request)
        del self.emu.commands[self._scope(request)][command["name"]]

    def _command(self, request) -> Body:
        wanted = request.match_info["command_id"]
        for command in self.emu.commands.get(self._scope(request), {}).values():
            if command["id"] == wanted:
                return command
        raise DiscordError(404, 10063, "Unknown application command")

    def _check_commands(self, endpoint: str, commands: list[Body]) -> None:
        problems = contract.check_commands(commands)
        for rule, detail in problems:
            self.emu.record_violation(endpoint, rule, detail)
        if problems:
            raise DiscordError(400, 50035, "Invalid Form Body: " + problems[0][1])

    def _registered(self, scope: str, command: Body, old: Body | None) -> Body:
        """A command as Discord stores and returns it (the same id when it replaces one)."""
        registered = {
            "type": 1,
            "options": [],
            "default_member_permissions": None,
            "nsfw": False,
            **command,
            "id": old["id"] if old else str(self.emu.ids.next()),
            "application_id": str(self.emu.application_id),
            "version": str(self.emu.ids.next()),
            **({"guild_id": scope.split(":")[1]} if scope != "global" else {}),
        }
        if not registered.get("integration_types"):  # Discord's default: installed to servers
            registered["integration_types"] = [0]
        if registered.get("default_member_permissions") is not None:  # strings, as Discord
            registered["default_member_permissions"] = str(registered["default_member_permissions"])
        return registered

    # --- guilds --------------------------------------------------------------------------

    def _guild(self, request):
        guild = self.emu.guild
        if request.match_info["guild_id"] != str(guild.id):
            raise DiscordError(404, 10004, "Unknown Guild")
        return guild

    async def get_guild(self, request, body, files, endpoint) -> Body:
        with_counts = _flag(request, "with_counts")
        return self._guild(request).rest_payload(with_counts=with_counts)

    async def get_member(self, request, body, files, endpoint) -> Body:
        guild = self._guild(request)
        try:
            member = guild.members[int(request.match_info["user_id"])]
        except (KeyError, ValueError):
            raise DiscordError(404, 10007, "Unknown Member") from None
        return member.payload()

    async def callback(self, request, body, files, endpoint) -> Body | None:
        emu = self.emu
        interaction = emu.interactions.get(int(request.match_info["interaction_id"]))
        if interaction is None or interaction.token != request.match_info["interaction_token"]:
            raise DiscordError(404, 10062, "Unknown interaction")
        elapsed = emu.now() - interaction.created
        if interaction.response_type is not None:
            emu.record_violation(
                endpoint,
                "one_initial_response",
                f"interaction {interaction.id} was already acknowledged",
            )
            raise DiscordError(400, 40060, "Interaction has already been acknowledged.")
        if elapsed > contract.FIRST_RESPONSE_S:
            emu.record_violation(
                endpoint,
                "first_response_3s",
                f"first response came {elapsed:.2f} s after INTERACTION_CREATE",
            )
            raise DiscordError(404, 10062, "Unknown interaction")
        kind = body.get("type")
        data = body.get("data") or {}
        if kind in (4, 7):
            self._check_message(endpoint, data)  # a rejected answer acknowledges nothing
        source_id = interaction.source_message_id
        source = emu.messages.get(source_id) if source_id is not None else None
        if kind == 7 and source is None:  # only a component's message can be updated
            raise DiscordError(400, 50035, "Invalid Form Body: the interaction has no message")
        interaction.response_type = kind
        interaction.responded_at = interaction.last_activity = emu.now()
        message = None
        if kind in (4, 5):
            flags = int(data.get("flags") or 0) | (LOADING if kind == 5 else 0)
            message = self._new_message(
                interaction.channel_id,
                data if kind == 4 else {},
                files,
                flags=flags,
                interaction_id=interaction.id,
            )
            interaction.original = message
        elif kind == 7 and source is not None:
            self._apply_edit(source, data, files)
        elif kind == 9:
            interaction.modal = {
                **data,
                "components": number_components(data.get("components") or []),
            }
        elif kind == 8:
            if interaction.type != 4:
                emu.record_violation(
                    endpoint, "autocomplete_answer", "choices answered a non-autocomplete"
                )
            interaction.choices = list(data.get("choices") or [])
        reply: Body = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(message and message.ephemeral),
            }
        }
        if message is not None:
            reply["interaction"]["response_message_id"] = str(message.id)
        # The spec's resource names the message for a new message (4) or an update (7) only.
        if kind == 4 and message is not None:
            reply["resource"] = {"type": kind, "message": message.payload}
        elif kind == 7 and source is not None:
            reply["resource"] = {"type": kind, "message": source.payload}
        # Discord answers 204 No Content unless the client asks for the response.
        return reply if _flag(request, "with_response") else None

    def _interaction_for_webhook(self, request, endpoint: str):
        emu = self.emu
        interaction = emu.interactions_by_token.get(request.match_info["webhook_token"])
        if interaction is None or int(request.match_info["webhook_id"]) != emu.application_id:
            raise DiscordError(404, 10015, "Unknown Webhook")
        if emu.now() - interaction.created > contract.TOKEN_LIFETIME_S:
            emu.record_violation(
                endpoint,
                "token_15min",
                "follow-up or edit more than 15 minutes after the interaction",
            )
            raise DiscordError(401, 50027, "Invalid Webhook Token")
        if interaction.response_type is None:
            raise DiscordError(404, 10015, "Unknown Webhook")
        interaction.last_activity = emu.now()
        return interaction

    def _webhook_target(self, request, interaction) -> Message:
        message_id = request.match_info.get("message_id")
        if message_id is None:  # @original
            if interaction.original is None and interaction.response_type in (6, 7):
                # A component's deferred (or direct) update: Discord's "original response"
                # is the message the component is on.
                source = self.emu.messages.get(interaction.source_message_id or 0)
                if source is not None:
                    return source
            if interaction.original is None:
                raise DiscordError(404, 10008, "Unknown Message")
            return interaction.original
        message = self.emu.messages.get(int(message_id))
        if message is None or message.interaction_id != interaction.id:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def followup(self, request, body, files, endpoint) -> Body | None:
        interaction = self._interaction_for_webhook(request, endpoint)
        self._check_message(endpoint, body)
        original = interaction.original
        if original is not None and int(original.payload.get("flags") or 0) & LOADING:
            # Discord: the first follow-up after a deferred "thinking" reply replaces it.
            self._apply_edit(original, body, files)
            return original.payload
        message = self._new_message(
            interaction.channel_id,
            body,
            files,
            flags=int(body.get("flags") or 0),
            interaction_id=interaction.id,
        )
        interaction.followups.append(message)
        return message.payload if _flag(request, "wait") else None  # Discord: 204 unless wait

    async def get_webhook_message(self, request, body, files, endpoint) -> Body:
        interaction = self._interaction_for_webhook(request, endpoint)
        return self._webhook_target(request, interaction).payload

    async def edit_webhook_message(self, request, body, files, endpoint) -> Body:
        interaction = self._interaction_for_webhook(request, endpoint)
        message = self._webhook_target(request, interaction)
        self._check_message(endpoint, body)
        self._apply_edit(message, body, files)
        return message.payload

    async def delete_webhook_message(self, request, body, files, endpoint) -> None:
        interaction = self._interaction_for_webhook(request, endpoint)
        message = self._webhook_target(request, interaction)
        message.payload["deleted"] = True
        return None

    # --- channels, messages, threads ------------------------------------------------------

    def _channel(self, request) -> int:
        channel_id = int(request.match_info["channel_id"])
        if channel_id not in self.emu.guild.channels:
            raise DiscordError(404, 10003, "Unknown Channel")
        return channel_id

    def _bot_message(self, request) -> Message:
        self._channel(request)
        message = self.emu.messages.get(int(request.match_info["message_id"]))
        if message is None:
            raise DiscordError(404, 10008, "Unknown Message")
        return message

    async def get_channel(self, request, body, files, endpoint) -> Body:
        return self.emu.guild.channels[self._channel(request)].payload()

    async def channel_messages(self, request, body, files, endpoint) -> list[Body]:
        """Newest first, as Discord pages them: `limit` 1-100 and at most one of `before`,
        `after` (the `limit` messages right after it) and `around` (half before, half from it)."""
        history = sorted(self.emu.channel_history(self._channel(request)), key=lambda m: m.id)
        query = request.query
        try:
            limit = int(query.get("limit", 50))
            anchors = {k: int(query[k]) for k in ("before", "after", "around") if k in query}
        except ValueError:
            raise DiscordError(400, 50035, "Invalid Form Body") from None
        if not 1 <= limit <= 100 or len(anchors) > 1:
            raise DiscordError(400, 50035, "Invalid Form Body")
        if "after" in anchors:
            page = [m for m in history if m.id > anchors["after"]][:limit]
        elif "around" in anchors:
            earlier = [m for m in history if m.id < anchors["around"]]
            older = earlier[len(earlier) - limit // 2 :] if limit // 2 else []
            newer = [m for m in history if m.id >= anchors["around"]][: limit - len(older)]
            page = older + newer
        else:
            before = anchors.get("before")
            page = [m for m in history if before is None or m.id < before][-limit:]
        return [self._as_seen(m.payload) for m in reversed(page)]

    def _as_seen(self, message: Body) -> Body:
        """A message as this app may read it: without the MESSAGE_CONTENT intent enabled,
        others' messages have no content (Discord's "Message Content Intent")."""
        if self.emu.privileged_intents & intents.MESSAGE_CONTENT:
            return message
        return intents.without_content(message, self.emu.bot_user["id"])

    async def create_message(self, request, body, files, endpoint) -> Body:
        channel_id = self._channel(request)
        self._check_message(endpoint, body)
        return self._new_message(channel_id, body, files, flags=int(body.get("flags") or 0)).payload

    async def get_message(self, request, body, files, endpoint) -> Body:
        return self._as_seen(self._bot_message(request).payload)

    async def edit_message(self, request, body, files, endpoint) -> Body:
        message = self._bot_message(request)
        if message.payload["author"]["id"] != self.emu.bot_user["id"]:
            raise DiscordError(403, 50005, "Cannot edit a message authored by another user")
        self._check_message(endpoint, body)
        self._apply_edit(message, body, files)
        return message.payload

    async def delete_message(self, request, body, files, endpoint) -> None:
        self._bot_message(request).payload["deleted"] = True
        return None

    async def create_thread(self, request, body, files, endpoint) -> Created:
        from discord_emulator.world import Channel

        parent = self._channel(request)
        message_id = request.match_info.get("message_id")
        thread_id = int(message_id) if message_id else self.emu.ids.next()
        thread = Channel(
            thread_id,
            body.get("name", "thread"),
            self.emu.guild.id,
            type=11,
            parent_id=parent,
            owner_id=int(self.emu.bot_user["id"]),
        )
        self.emu.guild.channels[thread.id] = thread
        payload = thread.payload()
        self.emu.gateway.dispatch_soon("THREAD_CREATE", {**payload, "newly_created": True})
        return Created(payload)

    async def download(self, request: web.Request) -> web.Response:
        upload = self.emu.uploads.get(int(request.match_info["upload_id"]))
        if upload is None:
            raise web.HTTPNotFound()
        return web.Response(body=upload.data, content_type=upload.content_type or None)

    # --- helpers --------------------------------------------------------------------------

    def _check_message(self, endpoint: str, body: Body) -> None:
        problems = contract.check_message(body)
        for rule, detail in problems:
            self.emu.record_violation(endpoint, rule, detail)
        hard = [d for r, d in problems if r != "allowed_mentions"]
        if hard:  # Discord itself rejects these with a 400
            raise DiscordError(400, 50035, "Invalid Form Body: " + "; ".join(hard))

    def _attachments(self, files: list[Upload]) -> list[Body]:
        return [self.emu.store_upload(upload) for upload in files]

    def _new_message(
        self,
        channel_id: int,
        body: Body,
        files: list[Upload],
        *,
        flags: int = 0,
        interaction_id: int | None = None,
    ) -> Message:
        emu = self.emu
        payload: Body = {
            "id": str(emu.ids.next()),
            "channel_id": str(channel_id),
            "guild_id": str(emu.guild.id),
            "author": emu.bot_user,
            "content": body.get("content") or "",
            "timestamp": now_iso(),
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": self._attachments(files),
            "embeds": body.get("embeds") or [],
            "components": number_components(body.get("components") or []),
            "pinned": False,
            "type": 20 if interaction_id else 0,
            "flags": flags,
        }
        if interaction_id is not None:
            payload["webhook_id"] = str(emu.application_id)
            payload["application_id"] = str(emu.application_id)
        message = Message(
            payload,
            files=list(files),
            ephemeral=bool(flags & EPHEMERAL),
            interaction_id=interaction_id,
        )
        emu.store_message(channel_id, message)
        if not message.ephemeral:
            # Seen by a session with GUILD_MESSAGES (content only with MESSAGE_CONTENT, or
            # because it is the app's own message).
            event = {**payload}
            if interaction_id is None:
                bot = emu.guild.members[int(emu.bot_user["id"])].payload()
                event["member"] = {k: v for k, v in bot.items() if k != "user"}
            emu.gateway.dispatch_soon("MESSAGE_CREATE", event)
        return message

    def _apply_edit(self, message: Message, body: Body, files: list[Upload]) -> None:
        payload = message.payload
        message.earlier_contents.append(payload.get("content") or "")
        for key in ("content", "embeds", "components"):
            if key in body:
                payload[key] = (
                    body[key] if body[key] is not None else ([] if key != "content" else "")
                )
        payload["components"] = number_components(payload["components"])
        if "attachments" in body:
            keep = {str(a.get("id")) for a in body["attachments"] or []}
            pairs = [
                (a, f)
                for a, f in zip(payload["attachments"], message.files, strict=False)
                if a["id"] in keep
            ]
            payload["attachments"] = [a for a, _ in pairs]
            message.files = [f for _, f in pairs]
        if files:
            payload["attachments"] = payload["attachments"] + self._attachments(files)
            message.files = message.files + list(files)
        payload["flags"] = int(payload.get("flags") or 0) & ~LOADING
        payload["edited_timestamp"] = now_iso()
        message.edits += 1
        if not message.ephemeral:
            self.emu.gateway.dispatch_soon("MESSAGE_UPDATE", dict(payload))
        self.emu.message_changed(message)
