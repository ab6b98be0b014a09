"""The bot's one SQLite database: connection settings, numbered migrations, online backup.

Migrations are files `NNNN_short_name.sql` in `migrations/`, each starting with a comment that
says why it exists. Each is applied in its own transaction together with its row in
`schema_migrations` and `PRAGMA user_version`, so a failed migration leaves no trace. Feature
stores (one module per feature beside this one) get a `Database` and keep their SQL there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5_000
_MIGRATION_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    """A migration file is malformed or failed to apply."""


@dataclass(frozen=True)
class Migration:
    """One numbered schema change."""

    version: int
    name: str
    sql: str


def load_migrations(folder: Path | None = None) -> list[Migration]:
    """Read the migration files in version order, checking numbering has no gaps."""
    if folder is None:
        files = [
            (entry.name, entry.read_text(encoding="utf-8"))
            for entry in resources.files("bot.storage").joinpath("migrations").iterdir()
            if entry.name.endswith(".sql")
        ]
    else:
        files = [(path.name, path.read_text(encoding="utf-8")) for path in folder.glob("*.sql")]
    migrations = []
    for filename, sql in files:
        match = _MIGRATION_NAME.match(filename)
        if not match:
            raise MigrationError(f"{filename}: name must look like 0001_short_name.sql")
        if re.search(r"^\s*(BEGIN|COMMIT|ROLLBACK)\b", sql, re.IGNORECASE | re.MULTILINE):
            raise MigrationError(f"{filename}: must not manage transactions itself")
        migrations.append(Migration(int(match.group(1)), match.group(2), sql))
    migrations.sort(key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {expected:04d} is missing")
    return migrations


class Database:
    """An open connection to the bot's database; one per process."""

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self._conn = connection
        self.path = path
        # One connection is shared by every coroutine: writes and transactions take turns so
        # that no statement lands inside another coroutine's transaction.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path, migrations: Sequence[Migration] | None = None) -> Database:
        """Open (creating if needed) and migrate the database at `path`."""
        path.parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so transactions are explicit.
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA foreign_keys = ON")
        await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        await conn.execute("PRAGMA synchronous = NORMAL")
        db = cls(conn, path)
        try:
            await db.migrate(load_migrations() if migrations is None else migrations)
        except BaseException:
            await conn.close()
            raise
        return db

    async def close(self) -> None:
        """Close the connection (checkpointing the WAL)."""
        await self._conn.close()

    async def schema_version(self) -> int:
        """The highest migration applied."""
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0

    async def migrate(self, migrations: Sequence[Migration]) -> list[int]:
        """Apply the migrations newer than the database, each in its own transaction."""
        await self._conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
        )
        current = await self.schema_version()
        known = max((m.version for m in migrations), default=0)
        if current > known:
            raise MigrationError(
                f"database schema {current} is newer than this version of the bot knows "
                f"({known}); upgrade the bot or restore a backup"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            script = (
                "BEGIN IMMEDIATE;\n"
                f"{migration.sql}\n;\n"
                "INSERT INTO schema_migrations (version, name, applied_at) "
                f"VALUES ({migration.version}, '{migration.name}', '{stamp}');\n"
                f"PRAGMA user_version = {migration.version};\n"
                "COMMIT;"
            )
            try:
                await self._conn.executescript(script)
            except sqlite3.Error as error:
                if self._conn.in_transaction:
                    await self._conn.execute("ROLLBACK")
                raise MigrationError(
                    f"migration {migration.version:04d}_{migration.name} failed: {error}"
                ) from error
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied.append(migration.version)
        return applied

    # --- queries used by the feature stores -------------------------------------------------

    async def execute(self, sql: str, params: Iterable[Any] = ()) -> int:
        """Run one statement as its own transaction; return the last row id."""
        async with self._write_lock:
            cursor = await self._conn.execute(sql, tuple(params))
            rowid = cursor.lastrowid or 0
            await cursor.close()
        return rowid

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> aiosqlite.Row | None:
        """First row of a query, or None."""
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[aiosqlite.Row]:
        """All rows of a query."""
        async with self._conn.execute(sql, tuple(params)) as cursor:
            return list(await cursor.fetchall())

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """Writes that belong together: committed together or not at all.

        Inside the block, run statements on the yielded connection, not on this object.
        """
        async with self._write_lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def backup(self, target: Path) -> Path:
        """Copy the live database to `target` with SQLite's online backup API."""
        target.parent.mkdir(parents=True, exist_ok=True)
        async with aiosqlite.connect(target) as dest:
            await self._conn.backup(dest)
        return target


async def only_row(cursor: aiosqlite.Cursor) -> aiosqlite.Row:
    """The row a query cannot fail to return: an aggregate such as COUNT(*), or a row
    this transaction has just written. Its absence is a bug, never "no result"."""
    row = await cursor.fetchone()
    if row is None:
        raise sqlite3.DatabaseError("a query that always returns a row returned none")
    return row


def backup_file(source: Path, target: Path) -> Path:
    """Back up a database another process may be using, and check the copy is sound.

    SQLite's backup API reads a consistent snapshot while the bot keeps writing (WAL mode).
    """
    if not source.is_file():
        raise FileNotFoundError(f"no database at {source}")
    target.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
    dest = sqlite3.connect(target)
    try:
        src.backup(dest)
        (result,) = dest.execute("PRAGMA integrity_check").fetchone()
        if result != "ok":
            raise sqlite3.DatabaseError(f"backup failed its integrity check: {result}")
    finally:
        dest.close()
        src.close()
    return target


def default_backup_path(data_dir: Path) -> Path:
    """`<data_dir>/backups/labbot-YYYYmmdd-HHMMSS.sqlite3` in UTC."""
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return data_dir / "backups" / f"labbot-{stamp}.sqlite3"
