"""The class's alignment runs: DPO on preference pairs from its votes, one per server at a time."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiosqlite

from bot.storage.database import Database, only_row


@dataclass(frozen=True)
class AlignmentRun:
    """One alignment of the class's model, as the bot remembers it."""

    id: int
    guild_id: int
    version: int
    adapter: str
    status: str  # running, done, failed or cancelled
    started_by: int | None
    votes: list[int]  # the numbers of the closed votes its pairs came from
    pairs: list[dict]  # {"prompt", "chosen", "rejected"}
    params: dict
    channel_id: int
    message_id: int | None
    error: str = ""
    results: dict = field(default_factory=dict)  # losses, preference; once done
    created_at: str = ""


class AlignmentActive(Exception):
    """The server already has an alignment run training."""


def _run(row: aiosqlite.Row) -> AlignmentRun:
    return AlignmentRun(
        id=row["id"],
        guild_id=row["guild_id"],
        version=row["version"],
        adapter=row["adapter"],
        status=row["status"],
        started_by=row["started_by"],
        votes=json.loads(row["votes"]),
        pairs=json.loads(row["pairs"]),
        params=json.loads(row["params"]),
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        error=row["error"],
        results=json.loads(row["results"] or "{}"),
        created_at=row["created_at"],
    )


async def create(
    db: Database,
    *,
    guild_id: int,
    started_by: int,
    votes: list[int],
    pairs: list[dict],
    params: dict,
    channel_id: int,
) -> AlignmentRun:
    """Record a new run with the server's next version (`AlignmentActive` if one trains)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT COUNT(*) FROM alignment_runs WHERE guild_id = ? AND status = 'running'",
            (guild_id,),
        )
        (active,) = await only_row(cursor)
        if active:
            raise AlignmentActive(guild_id)
        cursor = await conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM alignment_runs WHERE guild_id = ?",
            (guild_id,),
        )
        (version,) = await only_row(cursor)
        cursor = await conn.execute(
            "INSERT INTO alignment_runs (guild_id, version, adapter, status, started_by, votes, "
            "pairs, params, channel_id) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (
                guild_id,
                version,
                f"g{guild_id}-class-aligned-v{version}",
                started_by,
                json.dumps(votes),
                json.dumps(pairs),
                json.dumps(params),
                channel_id,
            ),
        )
        cursor = await conn.execute(
            "SELECT * FROM alignment_runs WHERE id = ?", (cursor.lastrowid,)
        )
        return _run(await only_row(cursor))


async def set_message(db: Database, run_id: int, message_id: int) -> None:
    """Where the run's progress message is."""
    await db.execute("UPDATE alignment_runs SET message_id = ? WHERE id = ?", (message_id, run_id))


async def finish(
    db: Database, run_id: int, status: str, error: str = "", results: dict | None = None
) -> bool:
    """Mark a run done, failed or cancelled; True if this call ended it (a trained adapter
    wins: "done" replaces an earlier "failed", never the other way round)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE alignment_runs SET status = ?, error = ?, results = ?, "
            "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? "
            "AND (status = 'running' OR (? = 'done' AND status = 'failed'))",
            (status, error, json.dumps(results or {}), run_id, status),
        )
        return cursor.rowcount == 1


async def get(db: Database, run_id: int) -> AlignmentRun | None:
    """A run by its id."""
    row = await db.fetchone("SELECT * FROM alignment_runs WHERE id = ?", (run_id,))
    return _run(row) if row else None


async def running(db: Database) -> list[AlignmentRun]:
    """Runs the bot was following when it last stopped."""
    rows = await db.fetchall("SELECT * FROM alignment_runs WHERE status = 'running'")
    return [_run(r) for r in rows]


async def finished(db: Database, guild_id: int) -> list[AlignmentRun]:
    """A server's class-aligned models (its done runs), newest first."""
    rows = await db.fetchall(
        "SELECT * FROM alignment_runs WHERE guild_id = ? AND status = 'done' ORDER BY version DESC",
        (guild_id,),
    )
    return [_run(r) for r in rows]
