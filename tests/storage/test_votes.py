"""Class votes in SQLite: one ballot per student, moved by a new press, frozen at closing."""

from __future__ import annotations

import pytest

from bot.storage import votes
from bot.storage.database import Database

OUTPUTS = {"greedy": " a", "beam": " b", "contrastive": " c", "sampling": " d"}
ORDER = ["beam", "sampling", "greedy", "contrastive"]


@pytest.fixture
async def db(tmp_path):
    database = await Database.open(tmp_path / "lab.sqlite3")
    yield database
    await database.close()


async def new_vote(db, guild_id=1):
    return await votes.open_vote(
        db,
        guild_id=guild_id,
        prompt="Once",
        outputs=OUTPUTS,
        letters=ORDER,
        model="tiny",
        max_tokens=5,
        seed=2,
        channel_id=9,
        opened_by=7,
    )


async def test_votes_are_numbered_per_server_and_keep_their_shuffle(db):
    first, second, elsewhere = await new_vote(db), await new_vote(db), await new_vote(db, 2)
    assert (first.number, second.number, elsewhere.number) == (1, 2, 1)
    assert first.letters == ORDER and first.method_of("B") == "sampling"
    assert first.letter_of("contrastive") == "D"
    assert [v.number for v in await votes.open_votes(db, 1)] == [2, 1]


async def test_one_ballot_per_student_moved_by_pressing_another_letter(db):
    vote = await new_vote(db)
    assert await votes.cast(db, vote.id, 100, "A") == votes.Ballot("A", None)
    assert await votes.cast(db, vote.id, 100, "A") == votes.Ballot("A", "A")
    assert await votes.cast(db, vote.id, 100, "C") == votes.Ballot("C", "A")
    await votes.cast(db, vote.id, 101, "C")
    await votes.cast(db, vote.id, 102, "B")
    assert await votes.voters(db, vote.id) == 3


async def test_closing_freezes_the_tally_by_method_and_refuses_later_ballots(db):
    vote = await new_vote(db)
    for user, letter in ((1, "C"), (2, "C"), (3, "A")):
        await votes.cast(db, vote.id, user, letter)
    closed = await votes.close(db, vote.id, closed_by=7)
    assert closed is not None and closed.status == "closed"
    assert closed.tally == {"beam": 1, "sampling": 0, "greedy": 2, "contrastive": 0}
    assert closed.voters == 3
    assert await votes.close(db, vote.id, closed_by=7) is None
    with pytest.raises(votes.VoteClosed):
        await votes.cast(db, vote.id, 4, "B")
    await db.execute("DELETE FROM vote_ballots")
    (kept,) = await votes.closed_votes(db, 1)
    assert kept.tally == closed.tally  # deleting ballots later leaves the class's result
