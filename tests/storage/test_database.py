"""Database: pragmas, migrations (fresh and upgrade), transactions, online backup."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from bot.cli import main
from bot.storage.database import (
    Database,
    Migration,
    MigrationError,
    backup_file,
    load_migrations,
    only_row,
)


def test_shipped_migrations_are_numbered_and_explained():
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    for migration in migrations:
        assert "why:" in migration.sql.splitlines()[0], f"{migration.name} needs a why header"


async def test_fresh_database_is_migrated_with_pragmas(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        assert await db.schema_version() == len(load_migrations())
        assert (await db.fetchone("PRAGMA journal_mode"))[0] == "wal"
        assert (await db.fetchone("PRAGMA foreign_keys"))[0] == 1
        assert (await db.fetchone("PRAGMA busy_timeout"))[0] >= 1000
        rows = await db.fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r["version"] for r in rows] == [m.version for m in load_migrations()]
    finally:
        await db.close()


async def test_upgrade_applies_only_new_migrations(tmp_path):
    path = tmp_path / "lab.sqlite3"
    first = [Migration(1, "notes", "CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT);")]
    db = await Database.open(path, first)
    await db.execute("INSERT INTO notes (body) VALUES ('kept')")
    await db.close()

    second = [*first, Migration(2, "note_author", "ALTER TABLE notes ADD COLUMN author TEXT;")]
    db = await Database.open(path, second)
    try:
        assert await db.schema_version() == 2
        row = await db.fetchone("SELECT body, author FROM notes")
        assert (row["body"], row["author"]) == ("kept", None)
    finally:
        await db.close()


async def test_failed_migration_leaves_no_trace(tmp_path):
    path = tmp_path / "lab.sqlite3"
    good = [Migration(1, "a", "CREATE TABLE a (x INTEGER);")]
    await (await Database.open(path, good)).close()
    broken = [
        *good,
        Migration(2, "b", "CREATE TABLE b (y INTEGER);\nINSERT INTO nowhere VALUES (1);"),
    ]
    with pytest.raises(MigrationError, match="0002_b failed"):
        await Database.open(path, broken)
    conn = sqlite3.connect(path)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "b" not in tables
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    conn.close()


async def test_database_newer_than_code_is_refused(tmp_path):
    path = tmp_path / "lab.sqlite3"
    two = [Migration(1, "a", "SELECT 1;"), Migration(2, "b", "SELECT 1;")]
    await (await Database.open(path, two)).close()
    with pytest.raises(MigrationError, match="newer than this version"):
        await Database.open(path, two[:1])


def test_gap_in_migration_numbers_is_refused(tmp_path):
    (tmp_path / "0001_a.sql").write_text("-- why: test\nSELECT 1;")
    (tmp_path / "0003_c.sql").write_text("-- why: test\nSELECT 1;")
    with pytest.raises(MigrationError, match="0002 is missing"):
        load_migrations(tmp_path)


async def test_transaction_rolls_back_on_error(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO guild_settings (guild_id) VALUES (1)")
                raise RuntimeError("boom")
        assert await db.fetchone("SELECT * FROM guild_settings") is None
    finally:
        await db.close()


async def test_concurrent_transactions_take_turns(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")

    async def write(guild_id: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO guild_settings (guild_id) VALUES (?)", (guild_id,))
            await asyncio.sleep(0)
            await conn.execute(
                "UPDATE guild_settings SET settings = '{\"ok\": 1}' WHERE guild_id = ?",
                (guild_id,),
            )

    try:
        await asyncio.gather(*(write(i) for i in range(20)))
        rows = await db.fetchall("SELECT settings FROM guild_settings")
        assert len(rows) == 20 and all(r["settings"] == '{"ok": 1}' for r in rows)
    finally:
        await db.close()


async def test_backup_while_the_bot_writes(tmp_path):
    path = tmp_path / "lab.sqlite3"
    db = await Database.open(path)
    stop = asyncio.Event()

    async def keep_writing() -> None:
        n = 0
        while not stop.is_set():
            n += 1
            await db.execute("INSERT INTO guild_settings (guild_id) VALUES (?)", (n,))
            await asyncio.sleep(0)

    writer = asyncio.create_task(keep_writing())
    await asyncio.sleep(0.05)
    target = tmp_path / "backups" / "copy.sqlite3"
    await asyncio.to_thread(backup_file, path, target)
    stop.set()
    await writer
    await db.close()
    copy = sqlite3.connect(target)
    assert copy.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert copy.execute("SELECT COUNT(*) FROM guild_settings").fetchone()[0] > 0
    copy.close()


def test_migrate_and_backup_commands(clean_env, capsys):
    assert main(["migrate", "--data-dir", "d"]) == 0
    assert "schema version" in capsys.readouterr().out
    assert main(["backup", "--data-dir", "d", "--out", "b.sqlite3"]) == 0
    assert (clean_env / "b.sqlite3").is_file()


def test_backup_without_database_is_a_config_error(clean_env, capsys):
    assert main(["backup", "--data-dir", "empty"]) == 2
    assert "LABBOT_DATA_DIR: no database" in capsys.readouterr().err


async def test_only_row_refuses_a_missing_row(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        async with db.transaction() as conn:
            cursor = await conn.execute("SELECT COUNT(*) FROM lab_groups")
            assert tuple(await only_row(cursor)) == (0,)
            cursor = await conn.execute("SELECT id FROM lab_groups WHERE id = -1")
            with pytest.raises(sqlite3.DatabaseError, match="returned none"):
                await only_row(cursor)
    finally:
        await db.close()
