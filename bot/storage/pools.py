"""Each group's sentence pool for its fine-tune."""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.database import Database


@dataclass(frozen=True)
class PoolSentence:
    """One sentence in a group's pool."""

    id: int
    text: str
    author_id: int | None


@dataclass(frozen=True)
class AddOutcome:
    """What happened to sentences offered to a pool."""

    added: list[str]
    duplicates: list[str]  # already in the pool (or repeated in the same batch)
    refused: list[str]  # over the pool's size limit
    size: int  # the pool's size afterwards


async def add(
    db: Database, guild_id: int, group_id: int, author_id: int, sentences: list[str], limit: int
) -> AddOutcome:
    """Add sentences in one transaction: duplicates skipped, the size limit kept."""
    added, duplicates, refused = [], [], []
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT text FROM pool_sentences WHERE group_id = ?", (group_id,)
        )
        existing = {row[0] for row in await cursor.fetchall()}
        size = len(existing)
        for text in sentences:
            if text in existing:
                duplicates.append(text)
            elif size >= limit:
                refused.append(text)
            else:
                await conn.execute(
                    "INSERT INTO pool_sentences (guild_id, group_id, author_id, text) "
                    "VALUES (?, ?, ?, ?)",
                    (guild_id, group_id, author_id, text),
                )
                existing.add(text)
                added.append(text)
                size += 1
    return AddOutcome(added, duplicates, refused, size)


async def sentences(db: Database, group_id: int) -> list[PoolSentence]:
    """The pool in the order sentences were added (numbered from 1 in replies)."""
    rows = await db.fetchall(
        "SELECT id, text, author_id FROM pool_sentences WHERE group_id = ? ORDER BY id",
        (group_id,),
    )
    return [PoolSentence(r["id"], r["text"], r["author_id"]) for r in rows]


async def remove(db: Database, group_id: int, sentence_id: int) -> str | None:
    """Remove one sentence of a group's pool in one statement; its text, or None if it was
    already gone (so a reply never claims a removal that did not happen)."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "DELETE FROM pool_sentences WHERE id = ? AND group_id = ? RETURNING text",
            (sentence_id, group_id),
        )
        row = await cursor.fetchone()
    return row[0] if row else None


async def remove_number(db: Database, group_id: int, number: int) -> str | None:
    """Remove the pool's sentence number `number` (from 1, in listing order) as the pool is
    now, in one statement; its text, or None if the pool has fewer sentences."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "DELETE FROM pool_sentences WHERE id = (SELECT id FROM pool_sentences "
            "WHERE group_id = ? ORDER BY id LIMIT 1 OFFSET ?) RETURNING text",
            (group_id, number - 1),
        )
        row = await cursor.fetchone()
    return row[0] if row else None


async def clear(db: Database, group_id: int) -> int:
    """Empty a group's pool; returns how many sentences were removed."""
    async with db.transaction() as conn:
        cursor = await conn.execute("DELETE FROM pool_sentences WHERE group_id = ?", (group_id,))
        return cursor.rowcount
