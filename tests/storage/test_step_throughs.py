"""Step-throughs in the database: one token per position, nothing added once it has ended,
and what a member chose in their privacy export and removed on request."""

from __future__ import annotations

import pytest

from bot.storage import privacy, step_throughs
from bot.storage.database import Database
from bot.storage.step_throughs import Candidate, StepToken

CANDIDATES = [Candidate(5, " the", "␣the", 0.2), Candidate(0, "", "⏎ end of text", 0.1)]


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "lab.sqlite3")
    yield database
    await database.close()


async def started(db) -> int:
    group = await db.execute("INSERT INTO lab_groups (guild_id, name) VALUES (1, 'Group 1')")
    return await step_throughs.start(
        db,
        guild_id=1,
        group_id=group,
        started_by=7,
        prompt="Once upon a time",
        model_label="Pre-trained",
        adapter=None,
        model="tiny",
        max_steps=40,
        end_of_text=0,
        candidates=CANDIDATES,
    )


def token(position: int, user_id: int = 7, chosen_by: str = "member") -> StepToken:
    return StepToken(position, 5, " the", "␣the", 0.2, chosen_by, user_id, "Ada", {"rank": 1})


async def test_a_step_through_keeps_its_path_and_candidates(db):
    step_id = await started(db)
    step = await step_throughs.get(db, step_id, guild_id=1)
    assert step.group_name == "Group 1" and step.candidates == CANDIDATES and step.tokens == []
    assert await step_throughs.get(db, step_id, guild_id=2) is None  # another server's
    assert await step_throughs.add_token(
        db, step_id, token(1), text=" the", candidates=CANDIDATES[:1], ended=None
    )
    step = await step_throughs.get(db, step_id, guild_id=1)
    assert step.chosen == [5] and step.text == " the" and step.candidates == CANDIDATES[:1]
    assert step.tokens[0].reason == {"rank": 1} and step.tokens[0].user_name == "Ada"


async def test_a_position_is_taken_once(db):
    step_id = await started(db)
    assert await step_throughs.add_token(db, step_id, token(1), text="", candidates=[], ended=None)
    for late in (token(1, 8), token(3, 8)):  # the same step again; a step skipped
        assert not await step_throughs.add_token(
            db, step_id, late, text="x", candidates=[], ended=None
        )
    step = await step_throughs.get(db, step_id, guild_id=1)
    assert [t.user_id for t in step.tokens] == [7] and step.text == ""


async def test_nothing_is_added_once_it_has_ended(db):
    step_id = await started(db)
    assert await step_throughs.end(db, step_id)
    assert not await step_throughs.end(db, step_id)
    assert not await step_throughs.add_token(
        db, step_id, token(1), text="", candidates=[], ended=None
    )
    step = await step_throughs.get(db, step_id, guild_id=1)
    assert step.ended == "end" and step.candidates == [] and step.tokens == []


async def test_a_members_choices_are_exported_and_anonymised(db):
    step_id = await started(db)
    await step_throughs.add_token(db, step_id, token(1), text=" the", candidates=[], ended=None)
    await step_throughs.add_token(
        db, step_id, token(2, 9, "greedy"), text=" the the", candidates=[], ended=None
    )
    mine = await privacy.export_user(db, 7)
    assert [s["prompt"] for s in mine["step_throughs_started"]] == ["Once upon a time"]
    assert [(t["position"], t["chosen_by"]) for t in mine["step_tokens_chosen"]] == [(1, "member")]
    counts = await privacy.delete_user(db, 7)
    assert counts["step_throughs_anonymised"] == 1 and counts["step_tokens_anonymised"] == 1
    step = await step_throughs.get(db, step_id, guild_id=1)
    assert step.started_by is None
    assert [(t.user_id, t.user_name) for t in step.tokens] == [(None, None), (9, "Ada")]
    assert (await privacy.export_user(db, 7))["step_tokens_chosen"] == []
