"""Lab groups: from Discord roles, or joined with /group join on servers without them."""

from __future__ import annotations

from dataclasses import dataclass

import aiosqlite

from bot.storage.database import Database, only_row


@dataclass(frozen=True)
class LabGroup:
    """A group of students working together."""

    id: int
    guild_id: int
    name: str
    role_id: int | None = None


def _group(row: aiosqlite.Row) -> LabGroup:
    return LabGroup(row["id"], row["guild_id"], row["name"], row["role_id"])


async def for_role(db: Database, guild_id: int, role_id: int, name: str) -> LabGroup:
    """The group of a group role, created (or renamed with the role) as needed."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT * FROM lab_groups WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
        )
        row = await cursor.fetchone()
        if row is None:
            # A group of the same name made with /group join becomes this role's group.
            await conn.execute(
                "INSERT INTO lab_groups (guild_id, name, role_id) VALUES (?, ?, ?) "
                "ON CONFLICT (guild_id, name) DO UPDATE SET role_id = excluded.role_id",
                (guild_id, name, role_id),
            )
        elif row["name"] != name:
            await conn.execute("UPDATE lab_groups SET name = ? WHERE id = ?", (name, row["id"]))
        cursor = await conn.execute(
            "SELECT * FROM lab_groups WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
        )
        return _group(await only_row(cursor))


async def of_member(db: Database, guild_id: int, user_id: int) -> LabGroup | None:
    """The group a member joined with /group join, if any."""
    row = await db.fetchone(
        "SELECT g.* FROM group_members m JOIN lab_groups g ON g.id = m.group_id "
        "WHERE m.guild_id = ? AND m.user_id = ?",
        (guild_id, user_id),
    )
    return _group(row) if row else None


async def join(db: Database, guild_id: int, user_id: int, name: str) -> LabGroup:
    """Put a member in the named group (created if new); they must not be in one already."""
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO lab_groups (guild_id, name) VALUES (?, ?) "
            "ON CONFLICT (guild_id, name) DO NOTHING",
            (guild_id, name),
        )
        cursor = await conn.execute(
            "SELECT * FROM lab_groups WHERE guild_id = ? AND name = ?", (guild_id, name)
        )
        group = _group(await only_row(cursor))
        await conn.execute(
            "INSERT INTO group_members (guild_id, user_id, group_id) VALUES (?, ?, ?)",
            (guild_id, user_id, group.id),
        )
    return group


async def leave(db: Database, guild_id: int, user_id: int) -> bool:
    """Take a member out of their joined group; False if they were in none."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "DELETE FROM group_members WHERE guild_id = ? AND user_id = ?", (guild_id, user_id)
        )
        return cursor.rowcount > 0


async def find(db: Database, guild_id: int, name: str) -> LabGroup | None:
    """A group by name (case-insensitive)."""
    row = await db.fetchone(
        "SELECT * FROM lab_groups WHERE guild_id = ? AND name = ? COLLATE NOCASE",
        (guild_id, name),
    )
    return _group(row) if row else None


async def members(db: Database, group_id: int) -> list[int]:
    """User ids of the members who joined with /group join."""
    rows = await db.fetchall(
        "SELECT user_id FROM group_members WHERE group_id = ? ORDER BY joined_at", (group_id,)
    )
    return [row["user_id"] for row in rows]
