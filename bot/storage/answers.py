"""Group answers to case-study questions, kept as revisions (append-only)."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.storage.database import Database, only_row

NAME_LIMIT = 100  # characters of a display name kept (Discord allows 32 for nicknames)


@dataclass(frozen=True)
class Revision:
    """One version of a group's answer."""

    revision_id: int
    group_id: int
    group_name: str
    question: int
    text: str
    author_id: int | None
    created_at: str
    number: int  # 1 for the first version of this answer
    author_name: str | None = None  # display name when saved; None for old or deleted authors

    def author(self) -> str:
        """Who wrote it, for people: the display name, else the id, else `(deleted)`."""
        if self.author_id is None:
            return "(deleted)"
        return self.author_name or str(self.author_id)


async def save(
    db: Database,
    *,
    guild_id: int,
    case_id: str,
    group_id: int,
    question: int,
    author_id: int,
    text: str,
    author_name: str | None = None,
) -> int:
    """Add a revision of the group's answer; returns its revision number.

    `author_name` is the author's display name at this moment, kept for the history export.
    """
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO answers (guild_id, case_id, group_id, question) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (guild_id, case_id, group_id, question) DO NOTHING",
            (guild_id, case_id, group_id, question),
        )
        cursor = await conn.execute(
            "SELECT id FROM answers WHERE guild_id = ? AND case_id = ? AND group_id = ? "
            "AND question = ?",
            (guild_id, case_id, group_id, question),
        )
        (answer_id,) = await only_row(cursor)
        await conn.execute(
            "INSERT INTO answer_revisions (answer_id, author_id, author_name, text) "
            "VALUES (?, ?, ?, ?)",
            (answer_id, author_id, author_name[:NAME_LIMIT] if author_name else None, text),
        )
        cursor = await conn.execute(
            "SELECT COUNT(*) FROM answer_revisions WHERE answer_id = ?", (answer_id,)
        )
        (count,) = await only_row(cursor)
    return count


_REVISIONS = (
    "SELECT r.id AS revision_id, a.group_id, g.name AS group_name, a.question, r.text, "
    "r.author_id, r.author_name, r.created_at, "
    "ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY r.id) AS number, "
    "ROW_NUMBER() OVER (PARTITION BY a.id ORDER BY r.id DESC) AS newest "
    "FROM answers a JOIN answer_revisions r ON r.answer_id = a.id "
    "JOIN lab_groups g ON g.id = a.group_id "
    "WHERE a.guild_id = ? AND a.case_id = ?"
)


def _revision(row: aiosqlite.Row) -> Revision:
    return Revision(
        row["revision_id"],
        row["group_id"],
        row["group_name"],
        row["question"],
        row["text"],
        row["author_id"],
        row["created_at"],
        row["number"],
        row["author_name"],
    )


async def latest(
    db: Database, guild_id: int, case_id: str, group_id: int | None = None
) -> list[Revision]:
    """The current answer of each group (or one group) to each question."""
    sql = f"SELECT * FROM ({_REVISIONS}) WHERE newest = 1"
    params: list = [guild_id, case_id]
    if group_id is not None:
        sql += " AND group_id = ?"
        params.append(group_id)
    rows = await db.fetchall(sql + " ORDER BY group_name, question", params)
    return [_revision(r) for r in rows]


async def history(db: Database, guild_id: int, case_id: str) -> list[Revision]:
    """Every revision of every answer, oldest first within each answer."""
    rows = await db.fetchall(
        f"SELECT * FROM ({_REVISIONS}) ORDER BY group_name, question, revision_id",
        (guild_id, case_id),
    )
    return [_revision(r) for r in rows]
