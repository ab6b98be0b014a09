"""Group tables: settings kept with each row; the two fine-tune tables; rows from before."""

from __future__ import annotations

import csv
import io
import json

from bot.exts.tables._export import settings_line, to_csv
from bot.storage import privacy, tables
from bot.storage.database import Database, load_migrations


async def test_rows_from_before_the_split_go_to_the_table_of_their_version(tmp_path):
    path = tmp_path / "lab.sqlite3"
    migrations = load_migrations()
    [split] = [m for m in migrations if m.name == "comparison_settings"]
    db = await Database.open(path, [m for m in migrations if m.version < split.version])
    group = await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'Group 1')")
    for version, example in ((1, "recipes"), (2, None)):
        await db.execute(
            "INSERT INTO finetune_jobs (guild_id, group_id, version, adapter, status, sentences, "
            "params, channel_id, example) VALUES (1, ?, ?, ?, 'done', '[]', '{}', 5, ?)",
            (group, version, f"a{version}", example),
        )
    for kind, prompt, version in (
        ("decoding", "Decoded", None),
        ("finetune", "On the example", "v1"),
        ("finetune", "On our sentences", "v2"),
        ("finetune", "Before any fine-tune", ""),
    ):
        columns = {"greedy": "x"} if version is None else {"version": version}
        await db.execute(
            "INSERT INTO comparisons (guild_id, group_id, user_id, kind, prompt, columns, model) "
            "VALUES (1, ?, 7, ?, ?, ?, 'gpt2')",
            (group, kind, prompt, json.dumps(columns)),
        )
    await db.close()

    db = await Database.open(path)
    try:
        found = {t: [r.prompt for r in await tables.rows(db, group, t)] for t in tables.TABLES}
        assert found == {
            "decoding": ["Decoded"],
            "example": ["On the example"],
            "finetune": ["On our sentences", "Before any fine-tune"],
        }
        [old] = await tables.rows(db, group, "decoding")
        assert (old.max_tokens, old.seed) == (None, None)
        assert "not recorded" in settings_line(old)
        [line] = list(csv.DictReader(io.StringIO(to_csv([old], "decoding"))))
        assert (line["Max tokens"], line["Seed"]) == ("", "")
        [example] = await tables.rows(db, group, "example")
        assert example.example == "recipes"
    finally:
        await db.close()


async def test_a_new_row_keeps_its_settings(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        group = await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'G')")
        for seed in (1, 2):
            await tables.add_row(
                db,
                guild_id=1,
                group_id=group,
                user_id=7,
                kind="decoding",
                prompt="Same prompt",
                columns={"sampling": f"text {seed}"},
                model="gpt2",
                max_tokens=30,
                seed=seed,
            )
        rows = await tables.rows(db, group, "decoding")
        assert [settings_line(r) for r in rows] == [
            "max tokens 30 · seed 1",
            "max tokens 30 · seed 2",
        ]
    finally:
        await db.close()


async def test_privacy_export_shows_a_rows_settings_and_delete_anonymises_it(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        group = await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'G')")
        await tables.add_row(
            db,
            guild_id=1,
            group_id=group,
            user_id=7,
            kind="finetune",
            prompt="Whisk",
            columns={"version": "v1"},
            model="gpt2",
            max_tokens=12,
            seed=None,
            example="recipes",
        )
        [row] = (await privacy.export_user(db, 7))["comparisons"]
        assert (row["prompt"], row["max_tokens"], row["seed"], row["example"]) == (
            "Whisk",
            12,
            None,
            "recipes",
        )
        assert (await privacy.delete_user(db, 7))["comparisons_anonymised"] == 1
        assert (await privacy.export_user(db, 7))["comparisons"] == []
        [kept] = await tables.rows(db, group, "example")
        assert (kept.user_id, kept.max_tokens) == (0, 12)  # the group's table keeps the row
    finally:
        await db.close()
