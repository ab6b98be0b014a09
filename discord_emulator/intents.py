"""Gateway intents: which dispatches a session receives and what they may contain.

From Discord's gateway documentation ("Gateway Intents", "Privileged Intents", "Message
Content Intent", and Guild Create in "Gateway Events"):

- an IDENTIFY without a valid `intents` bitfield is closed with 4013, one asking for a
  privileged intent the application has not enabled with 4014;
- a session receives only the events of the intents it identified with (events that belong
  to no intent, such as READY or INTERACTION_CREATE, always arrive);
- without GUILD_PRESENCES, GUILD_CREATE carries only the bot's own member (and members in
  voice, which the emulator has none of) and no presences;
- without MESSAGE_CONTENT, messages other than the app's own (and those that mention it) have
  empty `content`, `embeds`, `attachments`, `components` and no `poll`.
"""

from __future__ import annotations

from typing import Any

GUILDS = 1 << 0
GUILD_MEMBERS = 1 << 1
GUILD_PRESENCES = 1 << 8
GUILD_MESSAGES = 1 << 9
DIRECT_MESSAGES = 1 << 12
MESSAGE_CONTENT = 1 << 15

PRIVILEGED = GUILD_MEMBERS | GUILD_PRESENCES | MESSAGE_CONTENT
# Every documented intent bit: 0-16, 20, 21, 24, 25.
KNOWN = sum(1 << bit for bit in (*range(17), 20, 21, 24, 25))

_EVENT_INTENT = {
    **dict.fromkeys(
        (
            "GUILD_CREATE", "GUILD_UPDATE", "GUILD_DELETE", "GUILD_ROLE_CREATE",
            "GUILD_ROLE_UPDATE", "GUILD_ROLE_DELETE", "CHANNEL_CREATE", "CHANNEL_UPDATE",
            "CHANNEL_DELETE", "CHANNEL_PINS_UPDATE", "THREAD_CREATE", "THREAD_UPDATE",
            "THREAD_DELETE", "THREAD_LIST_SYNC", "THREAD_MEMBER_UPDATE",
        ),
        GUILDS,
    ),
    **dict.fromkeys(("GUILD_MEMBER_ADD", "GUILD_MEMBER_UPDATE", "GUILD_MEMBER_REMOVE"), GUILD_MEMBERS),
    "PRESENCE_UPDATE": GUILD_PRESENCES,
    **dict.fromkeys(
        ("MESSAGE_CREATE", "MESSAGE_UPDATE", "MESSAGE_DELETE", "MESSAGE_DELETE_BULK"),
        GUILD_MESSAGES,
    ),
}  # fmt: skip

_CONTENT_FIELDS = {"content": "", "embeds": [], "attachments": [], "components": []}


def identify_problem(intents: Any, enabled_privileged: int) -> tuple[int, str] | None:
    """(close code, reason) when IDENTIFY's intents would be refused; None when accepted."""
    if isinstance(intents, bool) or not isinstance(intents, int) or intents < 0:
        return 4013, "Invalid intent(s)."
    if intents & ~KNOWN:
        return 4013, "Invalid intent(s)."
    if intents & PRIVILEGED & ~enabled_privileged:
        return 4014, "Disallowed intent(s)."
    return None


def receives(intents: int, event: str) -> bool:
    """Whether a session that identified with `intents` is sent `event`."""
    needed = _EVENT_INTENT.get(event)
    return needed is None or bool(intents & needed)


def shape_dispatch(intents: int, event: str, data: dict[str, Any], bot_id: str) -> dict[str, Any]:
    """`data` as a session with these intents receives it."""
    if event == "GUILD_CREATE" and not intents & GUILD_PRESENCES:
        members = [m for m in data.get("members", []) if m.get("user", {}).get("id") == bot_id]
        return {**data, "members": members, "presences": []}
    if event in ("MESSAGE_CREATE", "MESSAGE_UPDATE") and not intents & MESSAGE_CONTENT:
        return without_content(data, bot_id)
    return data


def without_content(message: dict[str, Any], bot_id: str) -> dict[str, Any]:
    """A message as an app without MESSAGE_CONTENT sees it (its own and those mentioning
    it keep their content)."""
    author = (message.get("author") or {}).get("id")
    mentioned = any(user.get("id") == bot_id for user in message.get("mentions") or [])
    if author == bot_id or mentioned:
        return message
    shaped = {**message, **_CONTENT_FIELDS}
    shaped.pop("poll", None)
    return shaped
