"""Settings and pool changes that depend on what is stored happen in one step, never racing."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import guild_settings, pools
from bot.storage.database import Database


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "lab.db")
    yield database
    await database.close()


async def test_changes_made_at_once_all_arrive(db):
    def adding(n):
        return lambda settings: {"channels": [*settings.get("channels", []), n]}

    await asyncio.gather(*(guild_settings.change(db, 1, adding(n)) for n in range(20)))
    assert sorted((await guild_settings.load(db, 1))["channels"]) == list(range(20))


async def test_a_refused_change_stores_nothing(db):
    await guild_settings.update(db, 1, revealed=["greedy"])

    def refuse(settings):
        raise ValueError("no")

    with pytest.raises(ValueError):
        await guild_settings.change(db, 1, refuse)
    assert await guild_settings.load(db, 1) == {"revealed": ["greedy"]}


async def add_group(db) -> int:
    await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'Group 1')")
    return (await db.fetchone("SELECT id FROM lab_groups"))["id"]


async def test_removing_twice_reports_the_second_time(db):
    group = await add_group(db)
    await pools.add(db, 1, group, 5, ["A.", "B.", "C."], 100)
    first = (await pools.sentences(db, group))[0]
    results = await asyncio.gather(*(pools.remove(db, group, first.id) for _ in range(2)))
    assert sorted(results, key=str) == ["A.", None]
    assert await pools.remove_number(db, group, 2) == "C."
    assert await pools.remove_number(db, group, 2) is None
