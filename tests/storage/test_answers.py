"""Answer revisions keep their author's display name; older revisions fall back to the id."""

from __future__ import annotations

from bot.exts.cases._render import answers_csv, answers_markdown
from bot.storage import answers, privacy
from bot.storage.database import Database, load_migrations
from cases.loader import load_cases

CASE = next(c for c in load_cases() if c.id == "environmental-impact")


async def add_group(db: Database) -> int:
    return await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'Group 1')")


async def test_a_revision_saved_before_names_were_kept_shows_its_author_id(tmp_path):
    path = tmp_path / "lab.sqlite3"
    migrations = load_migrations()
    [names] = [m for m in migrations if m.name == "answer_author_names"]
    db = await Database.open(path, [m for m in migrations if m.version < names.version])
    group = await add_group(db)
    await db.execute(
        "INSERT INTO answers (guild_id, case_id, group_id, question) VALUES (1, ?, ?, 1)",
        (CASE.id, group),
    )
    await db.execute(
        "INSERT INTO answer_revisions (answer_id, author_id, text) VALUES (1, 42, 'Old answer')"
    )
    await db.close()

    db = await Database.open(path)
    try:
        await answers.save(
            db,
            guild_id=1,
            case_id=CASE.id,
            group_id=group,
            question=1,
            author_id=7,
            author_name="Ada Lovelace",
            text="New answer",
        )
        revisions = await answers.history(db, 1, CASE.id)
        assert [(r.text, r.author()) for r in revisions] == [
            ("Old answer", "42"),
            ("New answer", "Ada Lovelace"),
        ]
        table = answers_csv(CASE, revisions, history=True).splitlines()
        assert table[0].endswith(",saved_at,author,author_id")
        assert table[1].endswith(",42,42") and table[2].endswith(",Ada Lovelace,7")
        assert "by Ada Lovelace)" in answers_markdown(CASE, revisions, history=True)
        # The latest answers alone name nobody.
        assert "Ada" not in answers_csv(CASE, revisions, history=False)
    finally:
        await db.close()


async def test_deleting_a_member_removes_their_name_too(tmp_path):
    db = await Database.open(tmp_path / "lab.sqlite3")
    try:
        group = await add_group(db)
        await answers.save(
            db,
            guild_id=1,
            case_id=CASE.id,
            group_id=group,
            question=1,
            author_id=7,
            author_name="Ada Lovelace",
            text="Kept",
        )
        exported = await privacy.export_user(db, 7)
        assert exported["answer_revisions"][0]["author_name"] == "Ada Lovelace"
        await privacy.delete_user(db, 7)
        [revision] = await answers.history(db, 1, CASE.id)
        assert (revision.text, revision.author_name, revision.author()) == (
            "Kept",
            None,
            "(deleted)",
        )
    finally:
        await db.close()
