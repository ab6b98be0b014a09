"""Remembers which application commands were last synced to Discord, per scope."""

from __future__ import annotations

from bot.storage.database import Database


async def last_digest(db: Database, scope: str) -> str | None:
    """The digest stored at the last successful sync of `scope`, if any."""
    row = await db.fetchone("SELECT digest FROM command_sync WHERE scope = ?", (scope,))
    return row["digest"] if row else None


async def record_digest(db: Database, scope: str, digest: str) -> None:
    """Store the digest of commands just synced to `scope`."""
    await db.execute(
        "INSERT INTO command_sync (scope, digest) VALUES (?, ?) "
        "ON CONFLICT (scope) DO UPDATE SET digest = excluded.digest, "
        "synced_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
        (scope, digest),
    )
