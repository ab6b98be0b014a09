"""Everything stored about one person, to show them or to remove it.

Deletion keeps the group's work: answer revisions and table rows stay, with the author
removed (anonymised), so a group's answers survive a member leaving. A student's class-vote
ballots are deleted; a closed vote keeps its tally, frozen when it closed.
"""

from __future__ import annotations

import json
from typing import Any

from bot.storage.database import Database


async def export_user(db: Database, user_id: int) -> dict[str, Any]:
    """All rows that name this user, as plain JSON-ready data."""
    groups = await db.fetchall(
        "SELECT m.guild_id, g.name AS group_name, m.joined_at FROM group_members m "
        "JOIN lab_groups g ON g.id = m.group_id WHERE m.user_id = ?",
        (user_id,),
    )
    revisions = await db.fetchall(
        "SELECT a.guild_id, a.case_id, g.name AS group_name, a.question, r.text, "
        "r.author_name, r.created_at "
        "FROM answer_revisions r JOIN answers a ON a.id = r.answer_id "
        "JOIN lab_groups g ON g.id = a.group_id WHERE r.author_id = ? ORDER BY r.id",
        (user_id,),
    )
    comparisons = await db.fetchall(
        "SELECT guild_id, kind, prompt, columns, model, max_tokens, seed, example, created_at "
        "FROM comparisons "
        "WHERE user_id = ? ORDER BY id",
        (user_id,),
    )
    choices = await db.fetchall(
        "SELECT guild_id, case_id, chosen_at FROM group_cases WHERE chosen_by = ?", (user_id,)
    )
    created = await db.fetchall(
        "SELECT guild_id, case_id, created_at FROM server_cases WHERE created_by = ?",
        (user_id,),
    )
    pooled = await db.fetchall(
        "SELECT guild_id, text, added_at FROM pool_sentences WHERE author_id = ? ORDER BY id",
        (user_id,),
    )
    runs = await db.fetchall(
        "SELECT guild_id, version, status, example, created_at, results, "
        "started_by = ? AS started, approved_by = ? AS approved FROM finetune_jobs "
        "WHERE started_by = ? OR approved_by = ? ORDER BY id",
        (user_id,) * 4,
    )
    steps_started = await db.fetchall(
        "SELECT guild_id, prompt, model_label, ended, created_at FROM step_throughs "
        "WHERE started_by = ? ORDER BY id",
        (user_id,),
    )
    steps_chosen = await db.fetchall(
        "SELECT s.guild_id, s.prompt, t.position, t.text, t.probability, t.chosen_by, "
        "t.user_name, t.chosen_at FROM step_tokens t "
        "JOIN step_throughs s ON s.id = t.step_through WHERE t.user_id = ? "
        "ORDER BY t.step_through, t.position",
        (user_id,),
    )
    ballots = await db.fetchall(
        "SELECT v.guild_id, v.number AS vote, v.prompt, v.status, v.letters, b.letter, "
        "b.cast_at, b.changed_at FROM vote_ballots b JOIN class_votes v ON v.id = b.vote_id "
        "WHERE b.user_id = ? ORDER BY v.id",
        (user_id,),
    )
    opened = await db.fetchall(
        "SELECT guild_id, number AS vote, prompt, status, created_at, closed_at, "
        "opened_by = ? AS opened, closed_by = ? AS closed FROM class_votes "
        "WHERE opened_by = ? OR closed_by = ? ORDER BY id",
        (user_id,) * 4,
    )
    aligned = await db.fetchall(
        "SELECT guild_id, version, status, votes, created_at FROM alignment_runs "
        "WHERE started_by = ? ORDER BY id",
        (user_id,),
    )
    return {
        "user_id": str(user_id),
        "alignments_started": [{**dict(r), "votes": json.loads(r["votes"])} for r in aligned],
        "class_votes": [_ballot(dict(r)) for r in ballots],
        "votes_opened_or_closed": [dict(r) for r in opened],
        "step_throughs_started": [dict(r) for r in steps_started],
        "step_tokens_chosen": [dict(r) for r in steps_chosen],
        "finetune_runs": [{**dict(r), "results": json.loads(r["results"] or "{}")} for r in runs],
        "pool_sentences": [dict(r) for r in pooled],
        "groups_joined": [dict(r) for r in groups],
        "answer_revisions": [dict(r) for r in revisions],
        "comparisons": [{**dict(r), "columns": json.loads(r["columns"])} for r in comparisons],
        "case_choices": [dict(r) for r in choices],
        "cases_created": [dict(r) for r in created],
    }


def _ballot(row: dict[str, Any]) -> dict[str, Any]:
    """A student's ballot; the method behind their letter only once the vote has closed
    (while it is open, no export may tell a letter's method)."""
    letters = json.loads(row.pop("letters"))
    closed = row["status"] == "closed"
    row["method"] = letters["ABCD".index(row["letter"])] if closed else None
    return row


async def delete_user(db: Database, user_id: int) -> dict[str, int]:
    """Remove the user's personal data; their group work stays, anonymised. Row counts."""
    counts = {}
    async with db.transaction() as conn:
        statements = {
            "groups_left": "DELETE FROM group_members WHERE user_id = ?",
            "answers_anonymised": "UPDATE answer_revisions SET author_id = NULL, "
            "author_name = NULL WHERE author_id = ?",
            "comparisons_anonymised": "UPDATE comparisons SET user_id = 0 WHERE user_id = ?",
            "sentences_anonymised": "UPDATE pool_sentences SET author_id = NULL "
            "WHERE author_id = ?",
            "choices_anonymised": "UPDATE group_cases SET chosen_by = NULL WHERE chosen_by = ?",
            "cases_anonymised": "UPDATE server_cases SET created_by = NULL WHERE created_by = ?",
            "runs_anonymised": "UPDATE finetune_jobs SET started_by = NULL WHERE started_by = ?",
            "approvals_anonymised": "UPDATE finetune_jobs SET approved_by = NULL "
            "WHERE approved_by = ?",
            "step_throughs_anonymised": "UPDATE step_throughs SET started_by = NULL "
            "WHERE started_by = ?",
            "step_tokens_anonymised": "UPDATE step_tokens SET user_id = NULL, "
            "user_name = NULL WHERE user_id = ?",
            # A closed vote's tally is frozen in the vote, so deleting its ballots keeps it.
            "votes_deleted": "DELETE FROM vote_ballots WHERE user_id = ?",
            "votes_opened_anonymised": "UPDATE class_votes SET opened_by = NULL "
            "WHERE opened_by = ?",
            "votes_closed_anonymised": "UPDATE class_votes SET closed_by = NULL "
            "WHERE closed_by = ?",
            "alignments_anonymised": "UPDATE alignment_runs SET started_by = NULL "
            "WHERE started_by = ?",
        }
        for name, sql in statements.items():
            cursor = await conn.execute(sql, (user_id,))
            counts[name] = cursor.rowcount
    return counts
