"""The class's blind votes on decoding methods: each vote, its ballots, its frozen tally.

A vote shows one prompt's four continuations in a shuffled order under the letters A-D; the
order is stored, so everyone sees the same letters. Each student has one ballot per vote,
which a new press moves to another letter while the vote is open. Closing freezes the tally
(method -> votes) in the vote's row: the class's results do not change afterwards, also
when a student's ballots are deleted at their request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import aiosqlite

from bot.storage.database import Database, only_row

LETTERS = ("A", "B", "C", "D")


@dataclass(frozen=True)
class ClassVote:
    """One prompt put to the class's vote."""

    id: int
    guild_id: int
    number: int  # 1, 2, ... per server
    prompt: str
    outputs: dict[str, str]  # method -> its continuation
    letters: list[str]  # the method shown as A, B, C, D
    model: str
    max_tokens: int
    seed: int | None
    source: str  # where the outputs came from ("" = run for the vote)
    status: str  # open or closed
    channel_id: int
    message_id: int | None
    opened_by: int | None
    tally: dict[str, int] = field(default_factory=dict)  # method -> votes, once closed
    created_at: str = ""
    closed_at: str | None = None

    def method_of(self, letter: str) -> str:
        """The decoding method shown under `letter`."""
        return self.letters[LETTERS.index(letter)]

    def letter_of(self, method: str) -> str:
        """The letter `method` is shown under."""
        return LETTERS[self.letters.index(method)]

    @property
    def voters(self) -> int:
        """How many voted (frozen at closing)."""
        return sum(self.tally.values())


@dataclass(frozen=True)
class Ballot:
    """What pressing a letter did."""

    letter: str
    previous: str | None  # the letter the ballot had before, None for a first vote


class VoteClosed(Exception):
    """The vote was closed before the ballot could be cast."""


def _vote(row: aiosqlite.Row) -> ClassVote:
    return ClassVote(
        id=row["id"],
        guild_id=row["guild_id"],
        number=row["number"],
        prompt=row["prompt"],
        outputs=json.loads(row["outputs"]),
        letters=json.loads(row["letters"]),
        model=row["model"],
        max_tokens=row["max_tokens"],
        seed=row["seed"],
        source=row["source"],
        status=row["status"],
        channel_id=row["channel_id"],
        message_id=row["message_id"],
        opened_by=row["opened_by"],
        tally=json.loads(row["tally"]),
        created_at=row["created_at"],
        closed_at=row["closed_at"],
    )


async def open_vote(
    db: Database,
    *,
    guild_id: int,
    prompt: str,
    outputs: dict[str, str],
    letters: list[str],
    model: str,
    max_tokens: int,
    seed: int | None,
    channel_id: int,
    opened_by: int,
    source: str = "",
) -> ClassVote:
    """Record a new open vote with the server's next number."""
    if sorted(letters) != sorted(outputs) or len(letters) != len(LETTERS):
        raise ValueError("letters must order the four outputs' methods")
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT COALESCE(MAX(number), 0) + 1 FROM class_votes WHERE guild_id = ?",
            (guild_id,),
        )
        (number,) = await only_row(cursor)
        cursor = await conn.execute(
            "INSERT INTO class_votes (guild_id, number, prompt, outputs, letters, model, "
            "max_tokens, seed, source, channel_id, opened_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                guild_id,
                number,
                prompt,
                json.dumps(outputs),
                json.dumps(letters),
                model,
                max_tokens,
                seed,
                source,
                channel_id,
                opened_by,
            ),
        )
        cursor = await conn.execute("SELECT * FROM class_votes WHERE id = ?", (cursor.lastrowid,))
        return _vote(await only_row(cursor))


async def set_message(db: Database, vote_id: int, message_id: int) -> None:
    """Where the vote's message with its buttons is."""
    await db.execute("UPDATE class_votes SET message_id = ? WHERE id = ?", (message_id, vote_id))


async def withdraw(db: Database, vote_id: int) -> None:
    """Remove a vote whose message could not be posted (nobody can have voted)."""
    await db.execute("DELETE FROM class_votes WHERE id = ? AND message_id IS NULL", (vote_id,))


async def get(db: Database, vote_id: int) -> ClassVote | None:
    """A vote by its id."""
    row = await db.fetchone("SELECT * FROM class_votes WHERE id = ?", (vote_id,))
    return _vote(row) if row else None


async def by_number(db: Database, guild_id: int, number: int) -> ClassVote | None:
    """A server's vote by its number."""
    row = await db.fetchone(
        "SELECT * FROM class_votes WHERE guild_id = ? AND number = ?", (guild_id, number)
    )
    return _vote(row) if row else None


async def open_votes(db: Database, guild_id: int) -> list[ClassVote]:
    """A server's open votes, newest first."""
    rows = await db.fetchall(
        "SELECT * FROM class_votes WHERE guild_id = ? AND status = 'open' ORDER BY number DESC",
        (guild_id,),
    )
    return [_vote(r) for r in rows]


async def closed_votes(db: Database, guild_id: int) -> list[ClassVote]:
    """A server's closed votes, oldest first: the class's results."""
    rows = await db.fetchall(
        "SELECT * FROM class_votes WHERE guild_id = ? AND status = 'closed' ORDER BY number",
        (guild_id,),
    )
    return [_vote(r) for r in rows]


async def cast(db: Database, vote_id: int, user_id: int, letter: str) -> Ballot:
    """Vote for `letter`, or move the student's ballot there; `VoteClosed` once closed."""
    if letter not in LETTERS:
        raise ValueError(f"letter must be one of {', '.join(LETTERS)}")
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT status FROM class_votes WHERE id = ?", (vote_id,))
        row = await cursor.fetchone()
        if row is None or row["status"] != "open":
            raise VoteClosed(vote_id)
        cursor = await conn.execute(
            "SELECT letter FROM vote_ballots WHERE vote_id = ? AND user_id = ?",
            (vote_id, user_id),
        )
        before = await cursor.fetchone()
        previous = before["letter"] if before else None
        if previous is None:
            await conn.execute(
                "INSERT INTO vote_ballots (vote_id, user_id, letter) VALUES (?, ?, ?)",
                (vote_id, user_id, letter),
            )
        elif previous != letter:
            await conn.execute(
                "UPDATE vote_ballots SET letter = ?, "
                "changed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') "
                "WHERE vote_id = ? AND user_id = ?",
                (letter, vote_id, user_id),
            )
    return Ballot(letter, previous)


async def voters(db: Database, vote_id: int) -> int:
    """How many students have voted so far."""
    row = await db.fetchone("SELECT COUNT(*) FROM vote_ballots WHERE vote_id = ?", (vote_id,))
    return int(row[0]) if row else 0


async def close(db: Database, vote_id: int, closed_by: int) -> ClassVote | None:
    """Close an open vote and freeze its tally; None when it was closed already."""
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "SELECT * FROM class_votes WHERE id = ? AND status = 'open'", (vote_id,)
        )
        row = await cursor.fetchone()
        if row is None:
            return None
        letters = json.loads(row["letters"])
        tally = dict.fromkeys(letters, 0)
        cursor = await conn.execute(
            "SELECT letter, COUNT(*) AS n FROM vote_ballots WHERE vote_id = ? GROUP BY letter",
            (vote_id,),
        )
        for counted in await cursor.fetchall():
            tally[letters[LETTERS.index(counted["letter"])]] = counted["n"]
        await conn.execute(
            "UPDATE class_votes SET status = 'closed', tally = ?, closed_by = ?, "
            "closed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE id = ?",
            (json.dumps(tally), closed_by, vote_id),
        )
        cursor = await conn.execute("SELECT * FROM class_votes WHERE id = ?", (vote_id,))
        return _vote(await only_row(cursor))
