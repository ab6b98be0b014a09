"""Step-throughs (/step): a continuation a group builds one token at a time, and its path.

A step-through keeps what its message needs to go on after a restart (the prompt, the model,
the text so far, the candidates shown for the next token) and every token chosen: by whom or
by which decoding method, with the model's probability and the method's reasons.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

import aiosqlite

from bot.storage.database import Database, only_row

CHOOSERS = ("member", "greedy", "sampling", "contrastive")  # who picks a token
ENDINGS = ("end", "eos", "limit")  # End pressed, the end of text chosen, the last step taken


@dataclass(frozen=True)
class Candidate:
    """A possible next token, as its button shows it."""

    id: int
    text: str
    display: str
    probability: float


@dataclass(frozen=True)
class StepToken:
    """One token of the path: what it is, who or what chose it, and why."""

    position: int  # 1 = the first token after the prompt
    token_id: int
    text: str
    display: str
    probability: float  # the model's, at that step
    chosen_by: str  # one of CHOOSERS
    user_id: int | None = None  # who picked it, or pressed the method's button
    user_name: str | None = None
    reason: dict[str, Any] = field(default_factory=dict)  # a method's pick, as the runner said
    chosen_at: str = ""


@dataclass(frozen=True)
class StepThrough:
    """A step-through and its path so far."""

    id: int
    guild_id: int
    group_id: int | None  # None: it belongs to whoever started it
    group_name: str | None
    started_by: int | None
    prompt: str
    model_label: str
    adapter: str | None
    model: str
    max_steps: int
    end_of_text: int | None
    text: str
    candidates: list[Candidate]
    ended: str | None  # None while it goes on, else one of ENDINGS
    created_at: str
    tokens: list[StepToken]

    @property
    def chosen(self) -> list[int]:
        """The token ids chosen so far, in order."""
        return [token.token_id for token in self.tokens]


def _candidates(candidates: list[Candidate]) -> str:
    return json.dumps([c.__dict__ for c in candidates])


async def start(
    db: Database,
    *,
    guild_id: int,
    group_id: int | None,
    started_by: int,
    prompt: str,
    model_label: str,
    adapter: str | None,
    model: str,
    max_steps: int,
    end_of_text: int | None,
    candidates: list[Candidate],
) -> int:
    """Save a new step-through with its first candidates; returns its id."""
    return await db.execute(
        "INSERT INTO step_throughs (guild_id, group_id, started_by, prompt, model_label, "
        "adapter, model, max_steps, end_of_text, candidates) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            guild_id,
            group_id,
            started_by,
            prompt,
            model_label,
            adapter,
            model,
            max_steps,
            end_of_text,
            _candidates(candidates),
        ),
    )


def _token(row: aiosqlite.Row) -> StepToken:
    return StepToken(
        position=row["position"],
        token_id=row["token_id"],
        text=row["text"],
        display=row["display"],
        probability=row["probability"],
        chosen_by=row["chosen_by"],
        user_id=row["user_id"],
        user_name=row["user_name"],
        reason=json.loads(row["reason"]),
        chosen_at=row["chosen_at"],
    )


async def get(db: Database, step_id: int, guild_id: int) -> StepThrough | None:
    """A step-through of this server with its path, or None."""
    row = await db.fetchone(
        "SELECT s.*, g.name AS group_name FROM step_throughs s "
        "LEFT JOIN lab_groups g ON g.id = s.group_id WHERE s.id = ? AND s.guild_id = ?",
        (step_id, guild_id),
    )
    if row is None:
        return None
    tokens = await db.fetchall(
        "SELECT * FROM step_tokens WHERE step_through = ? ORDER BY position", (step_id,)
    )
    return StepThrough(
        id=row["id"],
        guild_id=row["guild_id"],
        group_id=row["group_id"],
        group_name=row["group_name"],
        started_by=row["started_by"],
        prompt=row["prompt"],
        model_label=row["model_label"],
        adapter=row["adapter"],
        model=row["model"],
        max_steps=row["max_steps"],
        end_of_text=row["end_of_text"],
        text=row["text"],
        candidates=[Candidate(**c) for c in json.loads(row["candidates"])],
        ended=row["ended"],
        created_at=row["created_at"],
        tokens=[_token(t) for t in tokens],
    )


async def add_token(
    db: Database,
    step_id: int,
    token: StepToken,
    *,
    text: str,
    candidates: list[Candidate],
    ended: str | None,
) -> bool:
    """Append `token` at its position with the text and candidates after it, together; False
    when the step-through has ended or that position was taken meanwhile (nothing changes)."""
    if token.chosen_by not in CHOOSERS or (ended is not None and ended not in ENDINGS):
        raise ValueError(f"unknown chooser {token.chosen_by!r} or ending {ended!r}")
    async with db.transaction() as conn:
        cursor = await conn.execute("SELECT ended FROM step_throughs WHERE id = ?", (step_id,))
        row = await cursor.fetchone()
        if row is None or row["ended"] is not None:
            return False
        cursor = await conn.execute(
            "SELECT COUNT(*) FROM step_tokens WHERE step_through = ?", (step_id,)
        )
        if (await only_row(cursor))[0] != token.position - 1:
            return False  # someone took this step a moment before
        try:
            await conn.execute(
                "INSERT INTO step_tokens (step_through, position, token_id, text, display, "
                "probability, chosen_by, user_id, user_name, reason) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    step_id,
                    token.position,
                    token.token_id,
                    token.text,
                    token.display,
                    token.probability,
                    token.chosen_by,
                    token.user_id,
                    token.user_name,
                    json.dumps(token.reason),
                ),
            )
        except sqlite3.IntegrityError:  # the same, from another process
            return False
        await conn.execute(
            "UPDATE step_throughs SET text = ?, candidates = ?, ended = ? WHERE id = ?",
            (text, _candidates(candidates), ended, step_id),
        )
    return True


async def end(db: Database, step_id: int, reason: str = "end") -> bool:
    """End a step-through that goes on; False if it had ended already."""
    if reason not in ENDINGS:
        raise ValueError(f"unknown ending {reason!r}")
    async with db.transaction() as conn:
        cursor = await conn.execute(
            "UPDATE step_throughs SET ended = ?, candidates = '[]' WHERE id = ? AND ended IS NULL",
            (reason, step_id),
        )
        return cursor.rowcount == 1
