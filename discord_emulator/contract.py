"""Contract checks: what the real Discord would reject, and the project's own rules.

1. Every JSON body is validated against the request-body schema of Discord's official
   OpenAPI spec (`spec/openapi.json`) for the matched path and method.
2. Rules the spec cannot express: message size limits, the interaction timing windows, one
   initial response per interaction, and `allowed_mentions` suppressing every ping on any
   message that can carry generated or user-written text.

A broken rule becomes a `Violation` naming the endpoint and the rule; the emulator records it
and, where Discord would, answers with the same 400 Discord gives.
"""

from __future__ import annotations

import json
import re
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

SPEC_PATH = Path(__file__).parent / "spec" / "openapi.json"

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_EMBED_TOTAL = 6000
MAX_FILE_BYTES = 10 * 1024 * 1024
FIRST_RESPONSE_S = 3.0
TOKEN_LIFETIME_S = 15 * 60


@dataclass(frozen=True)
class Violation:
    """One broken rule: which request broke it and how."""

    endpoint: str  # "POST /interactions/{interaction_id}/{interaction_token}/callback"
    rule: str  # short name of the rule, e.g. "allowed_mentions", "openapi", "content_length"
    detail: str

    def __str__(self) -> str:
        return f"{self.endpoint}: {self.rule}: {self.detail}"


@cache
def _spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


@cache
def _lenient_components() -> dict[str, Any]:
    """The spec's components, with snowflakes also accepted as integers.

    The spec types snowflakes as strings, but Discord accepts JSON integers for them and
    discord.py sends some that way (attachment ids 0, 1, ... in multipart uploads).
    """
    components = dict(_spec()["components"])
    schemas = dict(components["schemas"])
    snowflake = schemas["SnowflakeType"]
    schemas["SnowflakeType"] = {"anyOf": [snowflake, {"type": "integer", "minimum": 0}]}
    components["schemas"] = schemas
    return components


@cache
def _validator(template: str, method: str) -> Draft202012Validator | None:
    operation = _spec()["paths"].get(template, {}).get(method.lower())
    if operation is None or "requestBody" not in operation:
        return None
    content = operation["requestBody"]["content"]
    schema = (content.get("application/json") or next(iter(content.values())))["schema"]
    # Refs like "#/components/schemas/X" resolve against this root document.
    root = {**schema, "components": _lenient_components()}
    return Draft202012Validator(root)


@cache
def _response_validator(template: str, method: str, status: int) -> Draft202012Validator | None:
    operation = _spec()["paths"].get(template, {}).get(method.lower()) or {}
    content = (operation.get("responses", {}).get(str(status)) or {}).get("content") or {}
    schema = (content.get("application/json") or {}).get("schema")
    if schema is None:
        return None
    # Strict components: Discord itself always sends snowflakes as strings.
    return Draft202012Validator({**schema, "components": _spec()["components"]})


def check_response(template: str, method: str, status: int, body: Any) -> list[str]:
    """Schema errors of what the emulator answers, against the spec's response schema (empty
    when valid or when the spec gives none): the emulator must answer what Discord answers."""
    validator = _response_validator(template, method, status)
    if validator is None:
        return []
    # Answers differ mostly in ids, times and text, which never change their validity here
    # (formats are not checked): answers of one shape are checked once.
    key = (template, method, str(status), json.dumps(_shape(body), sort_keys=True))
    if key not in _CHECKED:
        _CHECKED[key] = _schema_errors(validator, body)
        if len(_CHECKED) > _CHECKED_MAX:
            _CHECKED.popitem(last=False)
    return list(_CHECKED[key])


@cache
def _schema_validator(name: str) -> Draft202012Validator:
    spec = _spec()
    return Draft202012Validator(
        {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    )


# The gateway sends REST objects with extra gateway-only fields; each dispatch is checked
# part by part against the spec's response schema of the object it carries.
_GUILD_GATEWAY_FIELDS = {
    "channels", "threads", "members", "member_count", "large", "unavailable", "joined_at",
    "voice_states", "presences", "stage_instances", "guild_scheduled_events",
    "soundboard_sounds",
}  # fmt: skip


def _dispatch_parts(event: str, data: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(where, schema name, object) for the objects a dispatch carries."""
    parts: list[tuple[str, str, Any]] = []
    if event == "READY":
        parts.append(("user", "UserResponse", data.get("user")))
    elif event in ("GUILD_CREATE", "GUILD_UPDATE"):
        guild = {k: v for k, v in data.items() if k not in _GUILD_GATEWAY_FIELDS}
        parts.append(("guild", "GuildResponse", guild))
        for i, member in enumerate(data.get("members", [])):
            parts.append((f"members[{i}]", "GuildMemberResponse", member))
        for i, thread in enumerate(data.get("threads", [])):
            parts.append((f"threads[{i}]", "ThreadResponse", thread))
        for i, channel in enumerate(data.get("channels", [])):
            parts.append((f"channels[{i}]", "GuildChannelResponse", channel))
    elif event in ("GUILD_ROLE_CREATE", "GUILD_ROLE_UPDATE"):
        parts.append(("role", "GuildRoleResponse", data.get("role")))
    elif event in ("THREAD_CREATE", "THREAD_UPDATE"):
        thread = {k: v for k, v in data.items() if k != "newly_created"}
        parts.append(("thread", "ThreadResponse", thread))
    elif event in ("MESSAGE_CREATE", "MESSAGE_UPDATE"):
        message = {k: v for k, v in data.items() if k not in ("guild_id", "member")}
        parts.append(("message", "MessageResponse", message))
    elif event == "INTERACTION_CREATE":
        member = {k: v for k, v in (data.get("member") or {}).items() if k != "permissions"}
        parts.append(("member", "GuildMemberResponse", member))
        if "message" in data:
            parts.append(("message", "MessageResponse", data["message"]))
    return parts


def check_dispatch(event: str, data: dict[str, Any]) -> list[str]:
    """Schema errors of a gateway dispatch the emulator sends (see `_dispatch_parts`)."""
    problems = []
    for where, schema, value in _dispatch_parts(event, data):
        key = ("dispatch", schema, json.dumps(_shape(value), sort_keys=True))
        if key not in _CHECKED:
            _CHECKED[key] = _schema_errors(_schema_validator(schema), value)
            if len(_CHECKED) > _CHECKED_MAX:
                _CHECKED.popitem(last=False)
        problems += [f"{where}: {problem}" for problem in _CHECKED[key]]
    return problems


_TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?")


def _shape(value: Any) -> Any:
    """`value` with snowflakes, timestamps and free text replaced by stand-ins of the same
    kind (and, for text, length), so answers that differ only in those share a shape."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    if isinstance(value, str):
        if value.isdigit():
            return "1"
        if _TIMESTAMP.fullmatch(value):
            return "2026-01-01T00:00:00Z"
        if len(value) > 32:
            return "x" * len(value)
    return value


def known_operation(template: str, method: str) -> bool:
    """True when the spec defines this path and method."""
    return method.lower() in _spec()["paths"].get(template, {})


_CHECKED: OrderedDict[tuple[str, ...], list[str]] = OrderedDict()
_CHECKED_MAX = 4096


def check_schema(template: str, method: str, body: Any) -> list[str]:
    """Schema errors of `body` for the operation, best match first (empty when valid).

    The same body gets the same answer: each bot start registers an identical command list,
    whose check costs about 0.4 s, so answers are remembered for recent bodies.
    """
    validator = _validator(template, method)
    if validator is None:
        return []
    key = (template, method, json.dumps(body, sort_keys=True, default=repr))
    if key in _CHECKED:
        _CHECKED.move_to_end(key)
        return list(_CHECKED[key])
    messages = _schema_errors(validator, body)
    _CHECKED[key] = messages
    if len(_CHECKED) > _CHECKED_MAX:
        _CHECKED.popitem(last=False)
    return list(messages)


def _schema_errors(validator: Draft202012Validator, body: Any) -> list[str]:
    errors = sorted(validator.iter_errors(body), key=lambda e: len(list(e.absolute_path)))
    messages = []
    for error in errors[:3]:
        where = "/".join(str(p) for p in error.absolute_path) or "(body)"
        # anyOf failures are long; the most relevant sub-error names the real field.
        best = min(error.context, key=lambda e: len(e.message), default=None)
        detail = best.message if best is not None else error.message
        messages.append(f"{where}: {detail[:300]}")
    return messages


def embed_length(embed: dict[str, Any]) -> int:
    """Characters Discord counts towards the 6000 limit across a message's embeds."""
    total = len(embed.get("title") or "") + len(embed.get("description") or "")
    total += len((embed.get("footer") or {}).get("text") or "")
    total += len((embed.get("author") or {}).get("name") or "")
    for field in embed.get("fields") or []:
        total += len(field.get("name") or "") + len(field.get("value") or "")
    return total


def check_message(body: dict[str, Any]) -> list[tuple[str, str]]:
    """(rule, detail) for every message rule `body` breaks: sizes and allowed_mentions."""
    problems: list[tuple[str, str]] = []
    content = body.get("content")
    if isinstance(content, str) and len(content) > MAX_CONTENT:
        problems.append(("content_length", f"content has {len(content)} characters (max 2000)"))
    embeds = body.get("embeds") or []
    if len(embeds) > MAX_EMBEDS:
        problems.append(("embed_count", f"{len(embeds)} embeds (max 10)"))
    total = sum(embed_length(e) for e in embeds if isinstance(e, dict))
    if total > MAX_EMBED_TOTAL:
        problems.append(("embed_total_length", f"embeds hold {total} characters (max 6000)"))
    carries_text = "content" in body or "embeds" in body or "components" in body
    if carries_text:
        problems.extend(("allowed_mentions", d) for d in _mention_problems(body))
    return problems


def _mention_problems(body: dict[str, Any]) -> list[str]:
    mentions = body.get("allowed_mentions")
    if not isinstance(mentions, dict):
        return ["missing: every message with text must set allowed_mentions to suppress pings"]
    problems = []
    if mentions.get("parse") is None or mentions.get("parse"):
        problems.append(f"parse must be an empty list, got {mentions.get('parse')!r}")
    for key in ("users", "roles"):
        if mentions.get(key):
            problems.append(f"{key} must be empty, got {mentions[key]!r}")
    if mentions.get("replied_user"):
        problems.append("replied_user must be false")
    return problems


_COMMAND_NAME = re.compile(r"^[-_'\w]{1,32}$")


def check_commands(commands: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Discord's naming rules for slash commands and options, which the spec leaves out."""
    problems = []

    def visit(item: dict[str, Any], path: str) -> None:
        name = item.get("name", "")
        if not _COMMAND_NAME.match(name) or name != name.lower():
            problems.append(
                ("command_name", f"{path}{name!r} must be 1-32 lowercase letters, digits, - or _")
            )
        if item.get("type", 1) == 1 and not 1 <= len(item.get("description") or "") <= 100:
            problems.append(
                ("command_description", f"{path}{name}: description must have 1-100 characters")
            )
        for option in item.get("options") or []:
            visit({"type": 1, **option}, f"{path}{name} ")

    names = [str(c.get("name") or "") for c in commands]  # a missing name is reported below
    if len(names) != len(set(names)):
        problems.append(("duplicate_command", f"two commands share a name: {sorted(names)}"))
    for command in commands:
        visit(command, "/")
    return problems


def check_files(files: list[tuple[str, bytes]]) -> list[tuple[str, str]]:
    """(rule, detail) for attachments over Discord's default upload limit."""
    return [
        ("file_size", f"{name} is {len(data)} bytes (max {MAX_FILE_BYTES})")
        for name, data in files
        if len(data) > MAX_FILE_BYTES
    ]
