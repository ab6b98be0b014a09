"""Per-server case studies, posts, state (closed, revealed) and the case each group chose."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.storage.database import Database


@dataclass(frozen=True)
class CaseState:
    """Whether a case takes answers and whether groups see each other's."""

    closed: bool = False
    revealed: bool = False


async def server_cases(db: Database, guild_id: int) -> list[dict]:
    """Cases created on this server (JSON dicts with their id)."""
    rows = await db.fetchall(
        "SELECT case_id, content FROM server_cases WHERE guild_id = ? ORDER BY created_at",
        (guild_id,),
    )
    return [{"id": r["case_id"], **json.loads(r["content"])} for r in rows]


async def save_server_case(
    db: Database, guild_id: int, case_id: str, content: dict, created_by: int
) -> None:
    """Create or replace a server's own case."""
    await db.execute(
        "INSERT INTO server_cases (guild_id, case_id, content, created_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, case_id) DO UPDATE SET content = excluded.content",
        (guild_id, case_id, json.dumps(content), created_by),
    )


async def state(db: Database, guild_id: int, case_id: str) -> CaseState:
    """A case's state on a server."""
    row = await db.fetchone(
        "SELECT closed, revealed FROM case_state WHERE guild_id = ? AND case_id = ?",
        (guild_id, case_id),
    )
    return CaseState(bool(row["closed"]), bool(row["revealed"])) if row else CaseState()


async def set_state(db: Database, guild_id: int, case_id: str, **changes: bool) -> None:
    """Close/reopen or reveal a case."""
    current = await state(db, guild_id, case_id)
    closed = changes.get("closed", current.closed)
    revealed = changes.get("revealed", current.revealed)
    await db.execute(
        "INSERT INTO case_state (guild_id, case_id, closed, revealed) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, case_id) DO UPDATE SET closed = excluded.closed, "
        "revealed = excluded.revealed",
        (guild_id, case_id, int(closed), int(revealed)),
    )


async def choose(db: Database, guild_id: int, group_id: int, case_id: str, user_id: int):
    """Record the case a group chose (a new choice replaces the old one)."""
    await db.execute(
        "INSERT INTO group_cases (guild_id, group_id, case_id, chosen_by) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (guild_id, group_id) DO UPDATE SET case_id = excluded.case_id, "
        "chosen_by = excluded.chosen_by, chosen_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (guild_id, group_id, case_id, user_id),
    )


async def chosen(db: Database, guild_id: int) -> dict[int, str]:
    """group id -> chosen case id."""
    rows = await db.fetchall(
        "SELECT group_id, case_id FROM group_cases WHERE guild_id = ?", (guild_id,)
    )
    return {r["group_id"]: r["case_id"] for r in rows}
