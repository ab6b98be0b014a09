"""Fine-tune job records: one per run, kept after the bot restarts."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiosqlite

from bot.storage.database import Database, only_row


@dataclass(frozen=True)
class JobRecord:
    """A group's fine-tune as the bot remembers it."""

    id: int
    guild_id: int
    group_id: int
    version: int
    adapter: str
    status: str
    started_by: int | None
    sentences: list[str]
    params: dict
    channel_id: int
    message_id: int | None
    error: str
    example: str | None = None  # the built-in example dataset it trained on, if any
    approved_by: int | None = None
    created_at: str = ""
    results: dict = field(default_factory=dict)  # what the runner measured, once done


ACTIVE = ("awaiting", "running")  # states that end; every other state is final


class RunAlreadyActive(Exception):
    """The group already has a run waiting for approval or training."""


def _record(row: aiosqlite.Row) -> JobRecord:
    return JobRecord(
        row["id"],
        row["guild_id"],
        row["group_id"],
        row["version"],
        row["adapter"],
        row["status"],
        row["started_by"],
        json.loads(row["sentences"]),
        json.loads(row["params"]),
        row["channel_id"],
        row["message_id"],
        row["error"],
        row["example"],
        row["approved_by"],
        row["created_at"],
        json.loads(row["results"] or "{}"),
    )


async def create(
    db: Database,
    *,
    guild_id: int,
    group_id: int,
    started_by: int,
    sentences: list[str],
    params: dict,
    channel_id: int,
    example: str | None = None,
    awaiting_approval: bool = False,
) -> JobRecord:
    """Record a new run with the group's next version number (one active job per group)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT COUNT(*) FROM finetune_jobs WHERE group_id = ? "
            "AND status IN ('awaiting', 'running')",
            (group_id,),
        )
        (active,) = await only_row(cursor)
        if active:
            raise RunAlreadyActive(group_id)
        cursor = await conn.execute(
            "SELECT COALESCE(MAX(version), 0) + 1 FROM finetune_jobs WHERE group_id = ?",
            (group_id,),
        )
        (version,) = await only_row(cursor)
        adapter = f"g{guild_id}-group{group_id}-v{version}"
        cursor = await conn.execute(
            "INSERT INTO finetune_jobs (guild_id, group_id, version, adapter, status, "
            "started_by, sentences, params, channel_id, example) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                group_id,
                version,
                adapter,
                "awaiting" if awaiting_approval else "running",
                started_by,
                json.dumps(sentences),
                json.dumps(params),
                channel_id,
                example,
            ),
        )
        job_id = cursor.lastrowid
        cursor = await conn.execute("SELECT * FROM finetune_jobs WHERE id = ?", (job_id,))
        return _record(await only_row(cursor))


async def set_message(db: Database, job_id: int, message_id: int) -> None:
    await db.execute("UPDATE finetune_jobs SET message_id = ? WHERE id = ?", (message_id, job_id))


async def finish(
    db: Database, job_id: int, status: str, error: str = "", results: dict | None = None
) -> bool:
    """Mark a run done, failed or cancelled, with what it measured; True if this call ended it.

    A run that already ended keeps its end, except that a trained adapter wins: "done"
    replaces an earlier "failed" (the model exists and works), never the other way round.
    """
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE finetune_jobs SET status = ?, error = ?, results = ?, "
            "finished_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ? "
            "AND (status IN ('awaiting', 'running') OR (? = 'done' AND status = 'failed'))",
            (status, error, json.dumps(results or {}), job_id, status),
        )
        return cursor.rowcount == 1


async def active_of_group(db: Database, group_id: int) -> JobRecord | None:
    """The group's run that waits for approval or trains, if any."""
    row = await db.fetchone(
        "SELECT * FROM finetune_jobs WHERE group_id = ? AND status IN ('awaiting', 'running')",
        (group_id,),
    )
    return _record(row) if row else None


async def awaiting_before(db: Database, cutoff_iso: str) -> list[JobRecord]:
    """Runs still waiting for approval that were asked for before `cutoff_iso` (UTC)."""
    rows = await db.fetchall(
        "SELECT * FROM finetune_jobs WHERE status = 'awaiting' AND created_at < ?",
        (cutoff_iso,),
    )
    return [_record(r) for r in rows]


async def running(db: Database) -> list[JobRecord]:
    """Runs the bot was following when it last stopped."""
    rows = await db.fetchall("SELECT * FROM finetune_jobs WHERE status = 'running'")
    return [_record(r) for r in rows]


async def of_group(db: Database, group_id: int) -> list[JobRecord]:
    """A group's runs, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM finetune_jobs WHERE group_id = ? ORDER BY version DESC", (group_id,)
    )
    return [_record(r) for r in rows]


async def get(db: Database, job_id: int) -> JobRecord | None:
    row = await db.fetchone("SELECT * FROM finetune_jobs WHERE id = ?", (job_id,))
    return _record(row) if row else None


async def decide(db: Database, job_id: int, instructor_id: int, approve: bool) -> JobRecord | None:
    """Approve (the run starts) or decline a run that awaits approval. Returns the updated
    record, or None when it was no longer waiting (someone else decided first)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE finetune_jobs SET status = ?, approved_by = ?, "
            "decided_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
            "WHERE id = ? AND status = 'awaiting'",
            ("running" if approve else "declined", instructor_id if approve else None, job_id),
        )
        if cursor.rowcount != 1:
            return None
        cursor = await conn.execute("SELECT * FROM finetune_jobs WHERE id = ?", (job_id,))
        return _record(await only_row(cursor))


async def trained(db: Database, group_id: int) -> list[JobRecord]:
    """A group's finished fine-tunes (its model versions), newest first."""
    return [r for r in await of_group(db, group_id) if r.status == "done"]
