"""The class's blind vote through the emulator: open, vote, change, close, results, export,
a restart in between, and each student's ballots in /privacy."""

from __future__ import annotations

import asyncio
import copy
import csv
import dataclasses
import io
import json

import pytest

from tests.e2e.conftest import running_lab

PROMPT = "The best thing about AI is its ability to"
METHOD_NAMES = ("Greedy", "5-Beam", "Contrastive Search", "Random Sampling")
NAME_OF = dict(zip(("greedy", "beam", "contrastive", "sampling"), METHOD_NAMES, strict=True))


@pytest.fixture
def teacher(lab):
    return lab.actor("Ms Rivera", roles=["Instructor"])


def vote_message(lab, number: int):
    """The vote's own message (with its buttons, later its results)."""
    for message in lab.emulator.messages.values():
        title = (message.embeds or [{}])[0].get("title") or ""
        if title.startswith(f"Class vote {number}:") and not message.interaction_id:
            return message
    raise AssertionError(f"no message for vote {number}")


async def wait_for_footer(lab, number: int, text: str, timeout: float = 30):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while loop.time() < deadline:
        message = vote_message(lab, number)
        if text in (message.embeds[0].get("footer") or {}).get("text", ""):
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"vote {number}'s message never said {text!r}")


async def letters_of(lab, number: int) -> dict[str, str]:
    """Letter -> method, as the bot stored the shuffle."""
    row = await lab.bot.db.fetchone("SELECT letters FROM class_votes WHERE number = ?", (number,))
    return dict(zip("ABCD", json.loads(row["letters"]), strict=True))


async def open_vote(lab, teacher, prompt=PROMPT, **options):
    reply = await teacher.slash("vote open", prompt=prompt, max_tokens=6, **options)
    assert reply.ephemeral and "is open below" in reply.text, reply.text
    return reply


async def test_a_blind_vote_one_ballot_each_revealed_when_closed(lab, teacher):
    await open_vote(lab, teacher, seed=3)
    message = vote_message(lab, 1)
    embed = message.embeds[0]
    assert [f["name"] for f in embed["fields"]] == ["A", "B", "C", "D"]
    assert PROMPT in embed["description"] and "No votes yet" in embed["footer"]["text"]
    assert not any(name in message.text() for name in METHOD_NAMES)
    labels = [c.get("label") for row in message.components for c in row["components"]]
    assert labels == ["A", "B", "C", "D", "Close the vote"]
    letters = await letters_of(lab, 1)
    assert sorted(letters.values()) == ["beam", "contrastive", "greedy", "sampling"]

    ada, bo, cy = (
        lab.actor(n, roles=[f"Group {g}"]) for n, g in (("Ada", 1), ("Bo", 1), ("Cy", 2))
    )
    first = await ada.click("A", message=message)
    assert first.ephemeral and "Your vote: **A**" in first.text
    await bo.click("A", message=message)
    await cy.click("B", message=message)
    again = await cy.click("B", message=message)  # the same letter again: still one vote
    assert again.ephemeral and "already voted for **B**" in again.text
    moved = await bo.click("C", message=message)  # Bo changes his mind
    assert moved.ephemeral and "moved from **A** to **C**" in moved.text
    shown = await wait_for_footer(lab, 1, "3 students have voted")
    # While open: how many voted, never a letter's count or a method's name.
    assert not any(name in shown.text() for name in METHOD_NAMES)
    assert "vote" not in " ".join(f["name"] for f in shown.embeds[0]["fields"])
    ballots = await lab.bot.db.fetchall("SELECT user_id, letter FROM vote_ballots ORDER BY user_id")
    assert sorted(b["letter"] for b in ballots) == ["A", "B", "C"]

    stale = dataclasses.replace(message, payload=copy.deepcopy(message.payload))
    refused = await ada.click("Close the vote", message=message)
    assert refused.ephemeral and "instructors only" in refused.text
    closed = await teacher.click("Close the vote", message=message)
    result = closed.message.embeds[0]
    assert result["title"] == "Class vote 1: the results"
    names = [f["name"] for f in result["fields"]]
    assert names[0].startswith(f"A: {NAME_OF[letters['A']]} · ")
    assert "1 vote (33%)" in names[0] and "1 vote (33%)" in names[1] and "1 vote (33%)" in names[2]
    assert "0 votes" in names[3] and "A tie between" in result["description"]
    assert not closed.message.components  # the buttons are gone
    # A Discord that still shows the buttons (not yet updated) presses one: refused.
    late = await lab.actor("Dee", roles=["Group 2"]).click("A", message=stale)
    assert late.ephemeral and "This vote is closed" in late.text


async def vote_for(lab, number: int, ballots: dict[str, str]):
    """Each named student (in Group 1) votes for the letter showing that method."""
    letters = {method: letter for letter, method in (await letters_of(lab, number)).items()}
    for name, method in ballots.items():
        await lab.actor(name, roles=["Group 1"]).click(
            letters[method], message=vote_message(lab, number)
        )


async def test_results_over_two_votes_with_a_restart_between_and_export(tmp_path):
    async with running_lab(tmp_path) as lab:
        teacher = lab.actor("Ms Rivera", roles=["Instructor"])
        early = await lab.actor("Ada", roles=["Group 1"]).slash("vote results")
        assert early.ephemeral and "No vote has closed yet" in early.text
        await open_vote(lab, teacher)
        await vote_for(lab, 1, {"Ada": "contrastive", "Bo": "contrastive", "Cy": "greedy"})
        await lab.restart_bot()
        # The buttons of the vote posted before the restart still take votes.
        await vote_for(lab, 1, {"Dee": "contrastive", "Cy": "beam"})  # Cy moves his vote
        await wait_for_footer(lab, 1, "4 students have voted")
        closing = await teacher.slash("vote close")
        assert not closing.ephemeral
        assert "The class chose" in closing.message.embeds[0]["description"]
        assert "Contrastive Search**" in closing.message.embeds[0]["description"]
        shown = vote_message(lab, 1)  # the vote's own message shows the results too
        assert shown.embeds[0]["title"] == "Class vote 1: the results" and not shown.components
        again = await teacher.slash("vote close", number=1)
        assert again.ephemeral and "already closed" in again.text
        none_open = await teacher.slash("vote close")
        assert none_open.ephemeral and "There is no open vote" in none_open.text

        await open_vote(lab, teacher, prompt="Once upon a time")
        await vote_for(lab, 2, {"Ada": "sampling", "Bo": "contrastive", "Cy": "contrastive"})
        await wait_for_footer(lab, 2, "3 students have voted")
        await teacher.click("Close the vote", message=vote_message(lab, 2))

        results = await lab.actor("Eve", roles=["Group 2"]).slash("vote results")
        assert not results.ephemeral
        embed = results.message.embeds[0]
        assert embed["description"].startswith(
            "Over 2 prompts, the class found **Contrastive Search** the most coherent most "
            "consistently: first on 2 of 2 prompts, with 5 of 7 votes."
        )
        assert "**Greedy**: 0 votes (0%), first on 0 of 2" in embed["description"]
        assert "**5-Beam**: 1 vote (14%)" in embed["description"]
        assert results.message.files[0].filename == "class-votes.png"
        assert embed["image"]["url"] == "attachment://class-votes.png"
        prompts = embed["fields"][0]["value"].splitlines()
        assert (
            prompts[0].startswith("1. The best thing")
            and "→ Contrastive Search (4 votes)" in prompts[0]
        )

        export = await lab.actor("Eve", roles=["Group 2"]).slash("vote export")
        files = {f.filename: f.data.decode() for f in export.message.files}
        rows = list(csv.DictReader(io.StringIO(files["class-votes.csv"])))
        assert len(rows) == 8 and {r["Vote"] for r in rows} == {"1", "2"}
        won = [(r["Vote"], r["Method"], r["Votes"]) for r in rows if r["Winner"] == "yes"]
        assert won == [("1", "Contrastive Search", "3"), ("2", "Contrastive Search", "2")]
        letters = await letters_of(lab, 1)
        first = [r for r in rows if r["Vote"] == "1"]
        assert [r["Letter"] for r in first] == ["A", "B", "C", "D"]
        assert [r["Method"] for r in first] == [NAME_OF[letters[x]] for x in "ABCD"]
        assert all(r["Max tokens"] == "6" and r["Voters"] == "4" for r in first)
        markdown = files["class-votes.md"]
        assert "| Contrastive Search | 5 | 71% | 2 | 0 |" in markdown
        assert "## Vote 2: Once upon a time" in markdown


async def test_ballots_in_privacy_export_hidden_method_until_closed_and_deleted(lab, teacher):
    await open_vote(lab, teacher)
    await vote_for(lab, 1, {"Ada": "greedy", "Bo": "beam"})
    ada = lab.actor("Ada", roles=["Group 1"])
    data = json.loads((await ada.slash("privacy export")).message.files[0].data)
    [ballot] = data["class_votes"]
    letters = await letters_of(lab, 1)
    assert ballot["vote"] == 1 and letters[ballot["letter"]] == "greedy"
    assert ballot["method"] is None  # an open vote's letters stay unlabelled, here too
    opened = json.loads((await teacher.slash("privacy export")).message.files[0].data)
    assert [v["vote"] for v in opened["votes_opened_or_closed"]] == [1]
    await teacher.slash("vote close")
    data = json.loads((await ada.slash("privacy export")).message.files[0].data)
    assert data["class_votes"][0]["method"] == "greedy"

    await ada.slash("privacy delete")
    done = await ada.click("Delete my data")
    assert "Your 1 class vote was deleted." in done.message.content
    data = json.loads((await ada.slash("privacy export")).message.files[0].data)
    assert data["class_votes"] == []
    left = await lab.bot.db.fetchall("SELECT user_id FROM vote_ballots")
    assert [r["user_id"] for r in left] == [lab.actor("Bo", roles=["Group 1"]).member.id]
    # The closed vote keeps its tally: the class's results do not change.
    results = await ada.slash("vote results")
    assert "with 1 of 2 votes" in results.message.embeds[0]["description"]


async def test_a_vote_on_a_groups_table_row_and_what_is_refused(lab, teacher):
    ada = lab.actor("Ada", roles=["Group 1"])
    student = await ada.slash("vote open", prompt=PROMPT)
    assert student.ephemeral and "instructors only" in student.text
    both = await teacher.slash("vote open", prompt=PROMPT, group="Group 1", row=1)
    assert both.ephemeral and "not both" in both.text
    neither = await teacher.slash("vote open")
    assert neither.ephemeral and "Give a prompt" in neither.text
    await ada.slash("table show")  # Group 1 exists, its table is empty
    empty = await teacher.slash("vote open", group="Group 1", row=1)
    assert empty.ephemeral and "table is empty" in empty.text
    await ada.slash("compare", prompt="Mix the flour", max_tokens=5, seed=11)
    missing = await teacher.slash("vote open", group="Group 1", row=2)
    assert missing.ephemeral and "has 1 rows: choose 1-1" in missing.text
    nobody = await teacher.slash("vote open", group="Group 9", row=1)
    assert nobody.ephemeral and "no group named" in nobody.text

    await teacher.slash("vote open", group="Group 1", row=1)
    embed = vote_message(lab, 1).embeds[0]
    assert "Mix the flour" in embed["description"]
    assert "From Group 1's table, row 1." in embed["description"]
    row = await lab.bot.db.fetchone("SELECT columns FROM comparisons")
    stored = await lab.bot.db.fetchone("SELECT outputs, max_tokens, seed FROM class_votes")
    assert json.loads(stored["outputs"]) == json.loads(row["columns"])
    assert (stored["max_tokens"], stored["seed"]) == (5, 11)
