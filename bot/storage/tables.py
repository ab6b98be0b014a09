"""Each group's comparison tables: every /compare it ran, row by row."""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.storage.database import Database


@dataclass(frozen=True)
class TableRow:
    """One prompt and what each column (decoding method, or model) made of it."""

    id: int
    prompt: str
    columns: dict[str, str]
    model: str
    user_id: int
    created_at: str


async def add_row(
    db: Database,
    *,
    guild_id: int,
    group_id: int | None,
    user_id: int,
    kind: str,
    prompt: str,
    columns: dict[str, str],
    model: str,
) -> int:
    """Save one comparison; returns its id."""
    return await db.execute(
        "INSERT INTO comparisons (guild_id, group_id, user_id, kind, prompt, columns, model) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (guild_id, group_id, user_id, kind, prompt, json.dumps(columns), model),
    )


async def rows(db: Database, group_id: int, kind: str) -> list[TableRow]:
    """A group's table, oldest row first."""
    found = await db.fetchall(
        "SELECT * FROM comparisons WHERE group_id = ? AND kind = ? ORDER BY id",
        (group_id, kind),
    )
    return [
        TableRow(
            r["id"],
            r["prompt"],
            json.loads(r["columns"]),
            r["model"],
            r["user_id"],
            r["created_at"],
        )
        for r in found
    ]
