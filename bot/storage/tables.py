"""Each group's comparison tables: every /compare it ran, row by row.

A group has three tables (`TABLES`): its decoding methods (`/compare`), and two of
pre-trained vs fine-tuned (`/compare models`): one where the fine-tuned model learned a
built-in example dataset, one where it learned the group's own sentences (or has not been
trained yet). Both fine-tune tables are stored as kind `finetune`; `example` tells them apart.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from bot.storage.database import Database

TABLES = ("decoding", "example", "finetune")  # decoding; fine-tune on an example; on your own
_WHERE = {
    "decoding": "kind = 'decoding'",
    "example": "kind = 'finetune' AND example IS NOT NULL",
    "finetune": "kind = 'finetune' AND example IS NULL",
}


@dataclass(frozen=True)
class TableRow:
    """One prompt and what each column (decoding method, or model) made of it."""

    id: int
    prompt: str
    columns: dict[str, str]
    model: str
    user_id: int
    created_at: str
    max_tokens: int | None = None  # new tokens asked for; None in rows from before it was kept
    seed: int | None = None  # Random Sampling's seed; None when unused or not kept
    example: str | None = None  # the built-in example the fine-tuned column learned, if any


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
    max_tokens: int,
    seed: int | None,
    example: str | None = None,
) -> int:
    """Save one comparison with the settings that produced it; returns its id."""
    return await db.execute(
        "INSERT INTO comparisons (guild_id, group_id, user_id, kind, prompt, columns, model, "
        "max_tokens, seed, example) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            group_id,
            user_id,
            kind,
            prompt,
            json.dumps(columns),
            model,
            max_tokens,
            seed,
            example,
        ),
    )


async def rows(db: Database, group_id: int, table: str) -> list[TableRow]:
    """One of a group's `TABLES`, oldest row first."""
    if table not in _WHERE:
        raise ValueError(f"table must be one of {', '.join(TABLES)}, not {table!r}")
    found = await db.fetchall(
        f"SELECT * FROM comparisons WHERE group_id = ? AND {_WHERE[table]} ORDER BY id",
        (group_id,),
    )
    return [_row(r) for r in found]


async def row(db: Database, guild_id: int, row_id: int) -> TableRow | None:
    """One row of any table on this server, by id (None if there is no such row here)."""
    found = await db.fetchone(
        "SELECT * FROM comparisons WHERE id = ? AND guild_id = ?", (row_id, guild_id)
    )
    return _row(found) if found is not None else None


def _row(r) -> TableRow:
    return TableRow(
        r["id"],
        r["prompt"],
        json.loads(r["columns"]),
        r["model"],
        r["user_id"],
        r["created_at"],
        r["max_tokens"],
        r["seed"],
        r["example"],
    )
