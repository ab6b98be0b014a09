"""The reliability review's minor findings, through the emulator: long input, forged options,
who may press or submit what, settings changed at once, slow writes, failed downloads, exports.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from types import SimpleNamespace

import pytest

from bot import expired
from bot.storage import answers, pools
from discord_emulator import Upload
from tests.e2e.test_cases import CASE, actor_label, post_case

MAX_CONTENT = 2000
STRING = 3


@pytest.fixture
def teacher(lab):
    return lab.actor("Ms Rivera", roles=["Instructor"])


async def group_id(lab, name: str = "Group 1") -> int:
    row = await lab.bot.db.fetchone("SELECT id FROM lab_groups WHERE name = ?", (name,))
    return row["id"]


def longest_message(reply) -> int:
    return max(len(m.content or "") for m in reply.messages)


# --- replies that quote input stay under Discord's limit -----------------------------------


async def test_an_error_that_quotes_a_long_input_is_still_answered(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    reply = await ada.slash("case show", case="x" * 5000)
    assert reply.ephemeral and "No case" in reply.text
    assert longest_message(reply) <= MAX_CONTENT and "x" * 100 not in reply.text


async def test_a_forged_long_example_name_is_answered_briefly(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    reply = await ada.forge(
        "finetune example", [{"name": "name", "type": STRING, "value": "y" * 5000}]
    )
    assert reply.ephemeral and reply.messages
    assert longest_message(reply) <= MAX_CONTENT and "y" * 100 not in reply.text


# --- /lab blockwords pages ------------------------------------------------------------------


async def test_a_long_blocked_word_list_is_shown_in_pages(lab, teacher):
    words = [f"{'w' * 50}{n:03d}" for n in range(200)]
    for start in range(0, 200, 50):
        added = await teacher.slash("lab blockwords", add=", ".join(words[start : start + 50]))
        assert added.messages and longest_message(added) <= MAX_CONTENT
    first = await teacher.slash("lab blockwords")
    assert "page 1 of" in first.text and "200 in all" in first.text
    pages = int(first.text.split("page 1 of ")[1].split(",")[0])
    seen = ""
    for page in range(1, pages + 1):
        reply = await teacher.slash("lab blockwords", page=page)
        assert longest_message(reply) <= MAX_CONTENT
        seen += reply.text
    assert all(f"`{w}`" in seen for w in words)


# --- forged option values are refused, not stored --------------------------------------------


async def test_a_forged_reveal_value_is_refused_and_later_reveals_work(lab, teacher):
    forged = await teacher.forge("lab reveal", [{"name": "method", "type": STRING, "value": "x"}])
    assert forged.ephemeral and "must be one of" in forged.text and "Greedy search" in forged.text
    stored = await lab.bot.db.fetchone("SELECT settings FROM guild_settings")
    assert stored is None or "x" not in json.loads(stored["settings"]).get("revealed", [])
    assert "Revealed: Greedy search" in (await teacher.slash("lab reveal", method="greedy")).text


async def test_a_value_stored_before_the_check_no_longer_breaks_reveal(lab, teacher):
    from bot.storage import guild_settings

    await guild_settings.update(lab.bot.db, lab.emulator.guild.id, revealed=["x"])
    reply = await teacher.slash("lab reveal", method="beam")
    assert "Revealed: Beam search" in reply.text


async def test_forged_numbers_outside_a_range_are_refused(lab, teacher):
    forged = await teacher.forge("lab limits", [{"name": "cooldown", "type": 4, "value": -5}])
    assert forged.ephemeral and "between 0 and 600" in forged.text
    wrong_type = await teacher.forge(
        "lab limits", [{"name": "group_quota", "type": 4, "value": "9"}]
    )
    assert wrong_type.ephemeral and "whole number" in wrong_type.text
    assert await lab.bot.db.fetchone("SELECT settings FROM guild_settings") is None


async def test_every_command_refuses_an_option_of_the_wrong_type(lab):
    """Not only the cogs that store values: /loss once crashed on a forged true as text."""
    ada = lab.actor("Ada", roles=["Group 1"])
    forged = await ada.forge("loss", [{"name": "text", "type": STRING, "value": True}])
    assert forged.ephemeral and "`text` must be text." in forged.text
    assert "error id" not in forged.text


async def test_a_required_option_sent_empty_or_left_out_is_refused(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    empty = await ada.forge("case choose", [{"name": "case", "type": STRING, "value": None}])
    assert empty.ephemeral and "`case` is required." in empty.text
    missing = await ada.forge("finetune example", [])
    assert missing.ephemeral and "`name` is required." in missing.text
    assert "error id" not in empty.text + missing.text


async def test_forged_empty_unreadable_or_unresolved_values_are_refused(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune add", text="One sentence about cakes.")
    empty = await ada.forge("finetune pool", [{"name": "page", "type": 4, "value": None}])
    assert "`page` is empty." in empty.text
    unreadable = await ada.forge(
        "generate",
        [
            {"name": "prompt", "type": STRING, "value": "Hello"},
            {"name": "temperature", "type": 10, "value": "abc"},
        ],
    )
    assert "wrong type" in unreadable.text
    blank = await ada.forge(
        "generate",
        [
            {"name": "prompt", "type": STRING, "value": "Hello"},
            {"name": "temperature", "type": 10, "value": ""},  # discord.py reads it as NaN
        ],
    )
    assert "`temperature` must be a number." in blank.text
    unresolved = await ada.forge("finetune upload", [{"name": "file", "type": 11, "value": "123"}])
    assert "`file` was not found" in unresolved.text
    for reply in (empty, unreadable, blank, unresolved):
        assert reply.ephemeral and "error id" not in reply.text


# --- settings changed at once keep every change -----------------------------------------------


async def test_instructors_changing_settings_at_once_lose_nothing(lab, teacher):
    bea = lab.actor("Mr Okafor", roles=["Instructor"])
    words = [f"word{n}" for n in range(8)]
    await asyncio.gather(
        *(
            (teacher if n % 2 else bea).slash("lab blockwords", add=word)
            for n, word in enumerate(words)
        )
    )
    listing = await teacher.slash("lab blockwords")
    assert all(f"`{w}`" in listing.text for w in words)


# --- /finetune remove removes what the student saw -----------------------------------------------


async def test_remove_follows_the_listing_the_student_saw(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    bea = lab.actor("Bea", roles=["Group 1"])
    sentences = [f"Sentence {c} about cakes." for c in "ABCDE"]
    await ada.slash("finetune paste")
    await ada.submit_modal({"One sentence per line": "\n".join(sentences)})
    await ada.slash("finetune pool")  # Ada sees A=1 ... E=5
    await bea.slash("finetune remove", number=1)  # Bea removes A: the pool renumbers
    removed = await ada.slash("finetune remove", number=3)
    assert "Sentence C" in removed.text  # what Ada saw as 3, not today's 3 (D)
    again = await ada.slash("finetune remove", number=1)
    assert again.ephemeral and "already removed" in again.text
    left = [item.text for item in await pools.sentences(lab.bot.db, await group_id(lab))]
    assert left == [sentences[1], sentences[3], sentences[4]]


# --- who may confirm or submit ---------------------------------------------------------------------


async def test_only_the_member_who_asked_can_clear_the_pool(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune add", text="A sentence to keep.")
    prompt = (await ada.slash("finetune clear")).message
    crafted = await lab.actor("Cy", roles=["Group 2"]).click("Clear the pool", message=prompt)
    assert crafted.ephemeral and "not yours" in crafted.text
    assert len(await pools.sentences(lab.bot.db, await group_id(lab))) == 1


async def test_a_member_who_left_the_group_cannot_clear_its_pool(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune add", text="A sentence to keep.")
    prompt = (await ada.slash("finetune clear")).message
    moved = lab.actor("Ada", roles=["Group 2"])  # her roles change meanwhile
    refused = await moved.click("Clear the pool", message=prompt)
    assert refused.ephemeral and "no longer in Group 1" in refused.text
    assert len(await pools.sentences(lab.bot.db, await group_id(lab))) == 1


async def test_answer_forms_accept_only_their_opener_while_in_the_group(lab, teacher):
    await post_case(lab, teacher)
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.click("Answer question 1")
    label = actor_label(ada)
    modal = lab.emulator.interactions[max(lab.emulator.interactions)].modal
    crafted = await lab.actor("Cy", roles=["Group 2"]).submit_modal({label: "Cy's"}, modal=modal)
    assert crafted.ephemeral and "not yours" in crafted.text
    moved = lab.actor("Ada", roles=["Group 3"])
    refused = await moved.submit_modal({label: "Ada, now elsewhere"}, modal=modal)
    assert refused.ephemeral and "no longer in Group 1" in refused.text
    assert await answers.latest(lab.bot.db, lab.emulator.guild.id, CASE) == []


async def test_forms_and_prompts_time_out(lab):
    from bot.exts.cases._views import ANSWER_TIMEOUT, AnswerModal, CreateCaseModal
    from bot.exts.finetune._cog import ConfirmClear, PasteModal

    case = SimpleNamespace(id="c", title="A case", questions=["Why?"])
    group = SimpleNamespace(id=1, name="Group 1")
    assert AnswerModal(lab.bot, case, 1, group, "", 1).timeout == ANSWER_TIMEOUT
    assert PasteModal(lab.bot, 1).timeout == PasteModal.TIMEOUT
    assert CreateCaseModal(lab.bot, 1).timeout
    assert ConfirmClear.TIMEOUT


# --- slow writes: acknowledge first, say "saved" only after the commit --------------------------------


def slow(lab, function):
    """`function`, made to take longer than Discord's 3 s (on the emulator's clock)."""

    async def wrapper(*args, **kwargs):
        lab.emulator.advance_clock(3.5)
        return await function(*args, **kwargs)

    return wrapper


async def test_adding_to_a_slow_database_is_acknowledged_first(lab, monkeypatch):
    monkeypatch.setattr(pools, "add", slow(lab, pools.add))
    ada = lab.actor("Ada", roles=["Group 1"])
    reply = await ada.slash("finetune add", text="Whisk the eggs.")
    assert "Added 1 sentence" in reply.text
    await ada.slash("finetune paste")
    pasted = await ada.submit_modal({"One sentence per line": "Fold in the flour."})
    assert "Added 1 sentence" in pasted.text


async def test_an_answer_saved_to_a_slow_database_is_acknowledged_first(lab, teacher, monkeypatch):
    await post_case(lab, teacher)
    monkeypatch.setattr(answers, "save", slow(lab, answers.save))
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.click("Answer question 1")
    saved = await ada.submit_modal({actor_label(ada): "Water, at scale."})
    assert saved.ephemeral and "Saved Group 1's answer" in saved.text


# --- a failed attachment download ------------------------------------------------------------------


async def test_a_failed_download_gets_its_own_message(lab, monkeypatch):
    emulator = lab.emulator
    store = emulator.store_upload

    def vanishing(upload):
        attachment = store(upload)
        emulator.uploads.pop(int(attachment["id"]))  # deleted before the bot fetches it
        return attachment

    monkeypatch.setattr(emulator, "store_upload", vanishing)
    ada = lab.actor("Ada", roles=["Group 1"])
    reply = await ada.slash("finetune upload", file=Upload("s.txt", b"One.\nTwo.", "text/plain"))
    assert "could not give the bot your file" in reply.text and "error id" not in reply.text


# --- CSV exports cannot run formulas ------------------------------------------------------------


async def test_exports_neutralise_formula_cells(lab, teacher):
    ada = lab.actor("Ada", roles=["Group 1"])
    formula = '=HYPERLINK("http://evil.example","click")'
    await ada.slash("compare", prompt=formula, max_tokens=2)
    export = await ada.slash("table export")
    files = {f.filename: f.data.decode() for f in export.message.files}
    rows = list(csv.reader(io.StringIO(files["group-1-decoding.csv"])))
    assert rows[1][0] == "'" + formula

    await post_case(lab, teacher)
    await ada.click("Answer question 1")
    await ada.submit_modal({actor_label(ada): "@SUM(1+1)*cmd|' /C calc'!A0"})
    exported = await teacher.slash("case export", case=CASE)
    files = {f.filename: f.data.decode() for f in exported.message.files}
    row = next(csv.DictReader(io.StringIO(files[f"{CASE}-answers.csv"])))
    assert row["answer"].startswith("'@SUM")


# --- buttons and forms nobody listens to any more -----------------------------------------


async def test_a_button_or_form_from_before_a_restart_says_it_expired(lab, monkeypatch):
    monkeypatch.setattr(expired, "ANSWER_AFTER_S", 0.3)
    ada = lab.actor("Ada", roles=["Group 1"])
    await ada.slash("finetune add", text="Whisk three eggs until they are pale.")
    await ada.slash("finetune clear")  # a confirmation with buttons
    await ada.slash("finetune paste")  # a form
    await lab.restart_bot()
    pressed = await ada.click("Clear the pool")
    assert (
        pressed.ephemeral and "expired" in pressed.text and "run the command again" in pressed.text
    )
    submitted = await ada.submit_modal({"One sentence per line": "Fold in the flour."})
    assert submitted.ephemeral and "expired" in submitted.text
    pool = await ada.slash("finetune pool")
    assert "Whisk three eggs" in pool.text and "Fold in" not in pool.text  # nothing changed
