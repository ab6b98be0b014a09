"""The playground lines README shows work as README says, against the real bot."""

from __future__ import annotations

import re
from pathlib import Path

from bot.storage import pools
from tests.playground.conftest import session

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def example(start: str) -> str:
    """The first line in README's playground table (a code cell) that starts with `start`."""
    found = re.search(r"^\| `(" + re.escape(start) + r"[^`]*)` \|", README, re.M)
    assert found, f"README's playground table has no line starting {start!r}"
    return found.group(1)


def inline(start: str) -> str:
    """Code in README's prose that starts with `start`."""
    found = re.search(r"`(" + re.escape(start) + r"[^`]*)`", README)
    assert found, f"README shows no {start!r}"
    return found.group(1)


async def test_upload_modal_and_at_sign_examples(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sentences.txt").write_text("Whisk the eggs.\nFold in the flour.\n")
    async with session(tmp_path / "data") as lab:
        await lab.run(
            "as Ms Rivera roles:Instructor",
            "/case post case:environmental-impact",
            'as Ada roles:"Group 1"',
            "click Answer question 1",
            example('modal "'),
        )
        assert "Saved Group 1's answer to question 1" in lab.transcript
        await lab.run(example("/finetune upload "))
        assert "Added 2 sentences to Group 1's pool" in lab.transcript
        await lab.run(inline('/finetune add text:"@everyone'), "/finetune pool")
        assert lab.playground.failures == []  # no error, no contract violation (no ping)
        bot, emulator = lab.playground.harness.bot, lab.playground.harness.emulator
        group = await bot.db.fetchone("SELECT id FROM lab_groups WHERE name = 'Group 1'")
        texts = [item.text for item in await pools.sentences(bot.db, group["id"])]
    assert texts == ["Whisk the eggs.", "Fold in the flour.", "@everyone look"]  # as text
    # Shown as written but never as a mention: every message went with allowed_mentions
    # suppressing pings (the emulator's contract checks), and the text itself is broken up.
    shown = [m.text() for m in emulator.messages.values()]
    assert any("@\u200beveryone look" in text for text in shown)
    assert not any("@everyone" in text for text in shown)


async def test_a_wrong_form_field_names_the_fields(tmp_path):
    async with session(tmp_path / "data") as lab:
        await lab.run('as Ada roles:"Group 1"', "/finetune paste", 'modal Answer:"x"')
    assert (
        "the form has no field 'Answer'; answer with: modal \"One sentence per line\""
        in lab.transcript
    )
