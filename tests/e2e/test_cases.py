"""Ethics case studies through the emulator: instructor and student flows, answers kept."""

from __future__ import annotations

import asyncio
import csv
import io
import json

import pytest

from discord_emulator import ActionError
from tests.e2e.conftest import running_lab

CASE = "environmental-impact"


@pytest.fixture
def teacher(lab):
    return lab.actor("Ms Rivera", roles=["Instructor"])


async def post_case(lab, teacher):
    reply = await teacher.slash("case post", case=CASE)
    assert reply.ephemeral and "Posted" in reply.text
    await asyncio.sleep(0.2)
    return lab.emulator.channel_history(teacher.channel_id)[-1]


async def answer(actor, question: int, text: str):
    await actor.click(f"Answer question {question}")
    return await actor.submit_modal({actor_label(actor): text})


def actor_label(actor) -> str:
    modal = next(
        i.modal
        for i in reversed(list(actor.emu.interactions.values()))
        if i.modal is not None and i.user_id == actor.member.id
    )
    return next(c["label"] for c in modal["components"] if c.get("type") == 18)


async def test_list_show_and_choose(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    listing = await ada.slash("case list")
    for case_id in (
        "environmental-impact",
        "data-labelling-labour",
        "copyright-training-data",
        "fine-tuning-toxicity",
    ):
        assert case_id in listing.text
    shown = await ada.slash("case show", case=CASE)
    assert shown.ephemeral and "Discussion questions" in shown.text
    # The lab page's video and the 9News article are listed; neither links to a home page.
    assert (
        "[The Environmental Impacts of AI Data Centres (video)](https://www.youtube.com/results?search_query=The+Environmental+Impacts+of+AI+Data+Centres+CGTN+America) (CGTN America"
        in shown.text
    )
    assert "(9News, July 2025; a search: no link on file)" in shown.text
    assert "(https://duckduckgo.com/?q=Young+Australians+avoiding+generative+AI" in shown.text
    assert "https://www.9news.com.au/)" not in shown.text
    chosen = await ada.slash("case choose", case=CASE)
    assert "Group 1** chose" in chosen.text
    missing = await ada.slash("case show", case="nope")
    assert missing.ephemeral and 'No case "nope"' in missing.text


async def test_case_texts_name_the_model_the_class_runs(lab):
    # The lab runs `tiny` here, not GPT-2: texts about the class's model say so.
    ada = lab.actor("Ada", roles=["Group 1"])
    task = await ada.slash("case show", case="lab-task-4-fine-tuning")
    title = task.message.embeds[0]["title"]
    assert title == "Lab task 4: fine-tuning the random-weight test model tiny on a small dataset"
    energy = (await ada.slash("case show", case="environmental-impact")).text
    assert "The class's model (the random-weight test model tiny) is tiny next to" in energy
    listing = (await ada.slash("case list")).text
    assert "running the random-weight test model tiny and picking the next token" in listing
    for case_id in ("data-labelling-labour", "fine-tuning-toxicity", "lab-task-2-3-generation"):
        text = (await ada.slash("case show", case=case_id)).text
        assert "{model}" not in text and "the random-weight test model tiny" in text
        # GPT-2 only where a text is about GPT-2 itself (the lab's notebook, its paper).
        assert all(
            "notebook" in line or "paper" in line for line in text.splitlines() if "GPT-2" in line
        )


async def test_post_opens_a_thread_with_answer_buttons(lab, teacher):
    post = await post_case(lab, teacher)
    labels = [c["label"] for row in post.components for c in row["components"]]
    assert labels == [f"Answer question {n}" for n in range(1, 5)]
    thread = lab.emulator.guild.channels[post.id]
    assert thread.type == 11 and thread.name.startswith("Discussion: ")


async def test_post_from_a_thread_asks_for_a_text_channel(lab, teacher):
    post = await post_case(lab, teacher)
    thread = lab.emulator.guild.channels[post.id]
    before = len(lab.emulator.channel_history(thread.id))
    reply = await teacher.in_channel(thread.name).slash("case post", case=CASE)
    assert reply.ephemeral and "text channel" in reply.text
    assert len(lab.emulator.channel_history(thread.id)) == before  # nothing half-posted


async def test_students_cannot_use_instructor_commands(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    for command, options in (
        ("case post", {"case": CASE}),
        ("case export", {"case": CASE}),
        ("case close", {"case": CASE}),
        ("case create", {}),
    ):
        reply = await ada.slash(command, **options)
        assert reply.ephemeral and "for instructors only" in reply.text, command


async def test_group_answers_with_revisions_export_and_close(lab, teacher):
    await post_case(lab, teacher)
    ada = lab.actor("Ada", roles=["Group 1"])
    bea = lab.actor("Bea", roles=["Group 1"])
    saved = await answer(ada, 1, "Data centres use a lot of water.")
    assert "Saved Group 1's answer to question 1 (version 1)" in saved.text
    # Bea edits the same answer: the modal is pre-filled with the current version.
    await bea.click("Answer question 1")
    modal = lab.emulator.interactions[max(lab.emulator.interactions)].modal
    field = next(c for c in modal["components"] if c.get("type") == 18)["component"]
    assert field["value"] == "Data centres use a lot of water."
    edited = await bea.submit_modal({"Group 1's answer": "Water and electricity, at scale."})
    assert "(version 2)" in edited.text

    mine = await ada.slash("case answers", case=CASE)
    assert "Water and electricity" in mine.text and "version 2" in mine.text

    latest = await teacher.slash("case export", case=CASE)
    files = {f.filename: f.data.decode() for f in latest.message.files}
    rows = list(csv.DictReader(io.StringIO(files[f"{CASE}-answers.csv"])))
    assert [(r["group"], r["question_number"], r["answer"]) for r in rows] == [
        ("Group 1", "1", "Water and electricity, at scale.")
    ]
    history = await teacher.slash("case export", case=CASE, history=True)
    files = {f.filename: f.data.decode() for f in history.message.files}
    rows = list(csv.DictReader(io.StringIO(files[f"{CASE}-history.csv"])))
    assert [(r["answer"], r["author"], r["author_id"]) for r in rows] == [
        ("Data centres use a lot of water.", "Ada", str(ada.member.id)),
        ("Water and electricity, at scale.", "Bea", str(bea.member.id)),
    ]
    assert "## Group 1" in files[f"{CASE}-history.md"]
    assert "by Ada)" in files[f"{CASE}-history.md"] and "by Bea)" in files[f"{CASE}-history.md"]

    await teacher.slash("case close", case=CASE)
    closed = await ada.click("Answer question 2")
    assert closed.ephemeral and "closed" in closed.text
    await teacher.slash("case reopen", case=CASE)
    await ada.click("Answer question 2")  # opens the modal again


async def test_two_members_editing_at_once_keep_both_revisions(lab, teacher):
    await post_case(lab, teacher)
    ada = lab.actor("Ada", roles=["Group 2"])
    bea = lab.actor("Bea", roles=["Group 2"])
    await ada.click("Answer question 3")
    await bea.click("Answer question 3")
    modals = [i.modal for i in lab.emulator.interactions.values() if i.modal]
    await asyncio.gather(
        ada.submit_modal({"Group 2's answer": "Ada's view"}, modal=modals[-2]),
        bea.submit_modal({"Group 2's answer": "Bea's view"}, modal=modals[-1]),
    )
    history = await teacher.slash("case export", case=CASE, history=True)
    rows = list(csv.DictReader(io.StringIO(history.message.files[0].data.decode())))
    assert sorted(r["answer"] for r in rows) == ["Ada's view", "Bea's view"]
    assert sorted(r["version"] for r in rows) == ["1", "2"]


async def test_other_groups_answers_only_after_reveal(lab, teacher):
    await post_case(lab, teacher)
    await answer(lab.actor("Ada", roles=["Group 1"]), 1, "Group one's answer")
    cy = lab.actor("Cy", roles=["Group 2"])
    hidden = await cy.slash("case answers", case=CASE, group="Group 1")
    assert hidden.ephemeral and "once your instructor reveals" in hidden.text
    everyone = await teacher.slash("case answers", case=CASE)
    assert "Group one's answer" in everyone.text
    revealed = await teacher.slash("case reveal", case=CASE)
    assert "Group one's answer" in revealed.text and not revealed.ephemeral
    assert "Group one's answer" in (await cy.slash("case answers", case=CASE, group="Group 1")).text


async def test_modal_length_limit(lab, teacher):
    await post_case(lab, teacher)
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.click("Answer question 1")
    with pytest.raises(ActionError, match="at most 4000"):
        await ada.submit_modal({"Group 1's answer": "x" * 4001})
    saved = await ada.submit_modal({"Group 1's answer": "x" * 4000})
    assert "version 1" in saved.text


async def test_student_without_group_is_told_how_to_get_one(lab, teacher):
    await post_case(lab, teacher)
    reply = await lab.actor("Solo").click("Answer question 1")
    assert reply.ephemeral and "not in a group" in reply.text


async def test_instructor_creates_a_server_case(lab, teacher):
    reply = await teacher.slash("case create")
    assert reply.modal is not None
    done = await teacher.submit_modal(
        {
            "Short id (letters, digits, -)": "deepfakes",
            "Title": "Deepfakes in elections",
            "Summary (one or two sentences)": "Synthetic media and voters.",
            "The case (Markdown, links welcome)": "A case about synthetic media in campaigns.",
            "Questions, one per line (empty: the lab's)": "Who is harmed?\nWhat should change?",
        }
    )
    assert "Saved case `deepfakes` with 2 questions" in done.text
    listing = await lab.actor("Ada").slash("case list")
    assert "deepfakes" in listing.text


async def test_privacy_export_and_delete(lab, teacher):
    await post_case(lab, teacher)
    ada = lab.actor("Ada", roles=["Group 1"])
    await answer(ada, 1, "Ada's words")
    export = await ada.slash("privacy export")
    data = json.loads(export.message.files[0].data)
    assert [(r["text"], r["author_name"]) for r in data["answer_revisions"]] == [
        ("Ada's words", "Ada")
    ]
    await ada.slash("case choose", case="environmental-impact")
    await ada.slash("privacy delete")
    done = await ada.click("Delete my data")
    # One of each: in the singular ("1 case choice", never "1 choices anonymised").
    assert "Deleted" in done.message.content
    assert "Your name is gone from 1 answer and 1 case choice." in done.message.content
    data = json.loads((await ada.slash("privacy export")).message.files[0].data)
    assert data["answer_revisions"] == []
    history = await teacher.slash("case export", case=CASE, history=True)
    rows = list(csv.DictReader(io.StringIO(history.message.files[0].data.decode())))
    assert rows[0]["answer"] == "Ada's words" and rows[0]["author_id"] == "(deleted)"
    assert rows[0]["author"] == "(deleted)"  # the name went with the id
    names = await lab.bot.db.fetchall("SELECT author_name FROM answer_revisions")
    assert [r["author_name"] for r in names] == [None]


async def test_answers_survive_a_bot_restart(tmp_path):
    async with running_lab(tmp_path) as lab:
        teacher = lab.actor("Ms Rivera", roles=["Instructor"])
        await post_case(lab, teacher)
        ada = lab.actor("Ada", roles=["Group 1"])
        await answer(ada, 2, "Kept across restarts")
        await lab.restart_bot()
        # The button on the old post still works after the restart.
        saved = await answer(ada, 3, "Written after the restart")
        assert "version 1" in saved.text
        export = await teacher.slash("case export", case=CASE)
        text = export.message.files[0].data.decode()
        assert "Kept across restarts" in text and "Written after the restart" in text


async def test_the_lab_tasks_questions_run_on_the_same_machinery(lab, teacher):
    ada = lab.actor("Ada", roles=["Group 1"])
    listing = await ada.slash("case list")
    assert "Lab tasks: discussion questions" in listing.text
    assert "lab-task-1-pretraining" in listing.text
    refused = await ada.slash("case choose", case="lab-task-1-pretraining")
    assert refused.ephemeral and "Every group answers" in refused.text
    reply = await teacher.slash("case post", case="lab-task-1-pretraining")
    assert "Posted" in reply.text
    await asyncio.sleep(0.2)
    saved = await answer(ada, 1, "Inference only runs the forward pass.")
    assert "question 1 (version 1)" in saved.text
    export = await teacher.slash("case export", case="lab-task-1-pretraining")
    files = {f.filename: f.data.decode() for f in export.message.files}
    rows = list(csv.DictReader(io.StringIO(files["lab-task-1-pretraining-answers.csv"])))
    assert rows[0]["answer"] == "Inference only runs the forward pass."
