"""Per-server settings that instructors change from Discord (a JSON object per server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bot.storage.database import Database


async def load(db: Database, guild_id: int) -> dict[str, Any]:
    """All settings of a server (empty when none were changed)."""
    row = await db.fetchone("SELECT settings FROM guild_settings WHERE guild_id = ?", (guild_id,))
    return json.loads(row["settings"]) if row else {}


async def update(db: Database, guild_id: int, **changes: Any) -> dict[str, Any]:
    """Change some settings of a server atomically; returns them all."""
    return await change(db, guild_id, lambda _: changes)


async def change(
    db: Database, guild_id: int, compute: Callable[[dict[str, Any]], dict[str, Any]]
) -> dict[str, Any]:
    """Read, change and write a server's settings in one transaction; returns them all.

    `compute` gets the current settings and returns the changes (it may raise to change
    nothing). Changes that depend on the current value (add a channel, block a word) go
    through here: two instructors at once then never overwrite each other's change.
    """
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT settings FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        row = await cursor.fetchone()
        settings = json.loads(row[0]) if row else {}
        settings.update(compute(dict(settings)))
        await conn.execute(
            "INSERT INTO guild_settings (guild_id, settings) VALUES (?, ?) "
            "ON CONFLICT (guild_id) DO UPDATE SET settings = excluded.settings, "
            "updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')",
            (guild_id, json.dumps(settings)),
        )
    return settings
