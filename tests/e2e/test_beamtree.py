"""/beamtree and the Beam tree button under /compare, through the emulator."""

from __future__ import annotations

import re

import pytest

from discord_emulator import ActionError
from tests.e2e.conftest import running_lab

PROMPT = "The best thing about AI is its ability to"


async def reveal_beam(lab) -> None:
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    revealed = await teacher.slash("lab reveal", method="beam")
    assert "Students can now use /explain and /beamtree." in revealed.text


def winner(message) -> str:
    """The winning continuation the tree's reply names."""
    return re.search(r"→ \*\*(.*?)\*\*\n", message.embeds[0]["description"])[1]


def continuation(value: str) -> str:
    """A /generate or /compare continuation without the bold end of the prompt before it."""
    return value.split("**", 2)[2].strip()


async def test_the_tree_ends_in_generates_beam_text(lab):
    await reveal_beam(lab)
    ada = lab.actor("Ada", roles=["Group 1"])
    tree = await ada.slash("beamtree", prompt=PROMPT)
    message = tree.message
    assert not tree.ephemeral
    assert message.files[0].filename == "beamtree.png"
    assert message.files[0].data.startswith(b"\x89PNG")
    embed = message.embeds[0]
    assert embed["title"] == "5-beam search, step by step"
    assert embed["image"]["url"] == "attachment://beamtree.png"
    steps = [f["name"] for f in embed["fields"]]
    assert steps == [f"Step {n}" for n in range(1, 7)]  # max_tokens 6 by default
    assert all(f["value"].startswith("Kept: ") for f in embed["fields"][:5])
    assert "Dropped: " in embed["fields"][0]["value"]
    assert embed["fields"][-1]["value"].startswith("Ended: ")  # the length limit
    assert "/generate method:5-Beam max_tokens:6 with this prompt" in embed["footer"]["text"]
    generated = await ada.slash("generate", prompt=PROMPT, method="beam", max_tokens=6)
    assert winner(message) == continuation(generated.message.embeds[0]["description"])


async def test_fewer_beams_and_tokens(lab):
    await reveal_beam(lab)
    ada = lab.actor("Ada")
    tree = await ada.slash("beamtree", prompt="Once upon a time", max_tokens=3, num_beams=2)
    embed = tree.message.embeds[0]
    assert embed["title"] == "2-beam search, step by step"
    assert [f["name"] for f in embed["fields"]] == ["Step 1", "Step 2", "Step 3"]
    assert "num_beams:2" in embed["footer"]["text"]
    generated = await ada.slash(
        "generate", prompt="Once upon a time", method="beam", max_tokens=3, num_beams=2
    )
    assert winner(tree.message) == continuation(generated.message.embeds[0]["description"])


async def test_groups_guess_before_the_instructor_reveals_beam_search(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    early = await ada.slash("beamtree", prompt=PROMPT)
    assert early.ephemeral and "Not yet" in early.text and "/lab reveal" in early.text
    compared = await ada.slash("compare", prompt=PROMPT, max_tokens=6)
    assert compared.message.find_component(label="Beam tree") is None  # no spoiler either
    assert "beamtree" not in compared.text
    teacher = await lab.actor("Ms Rivera", roles=["Instructor"]).slash("beamtree", prompt=PROMPT)
    assert not teacher.ephemeral and teacher.message.files  # instructors may look first
    everything = await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab reveal")
    assert "Students can now use /explain, /beamtree and /sampler." in everything.text


async def test_the_button_under_compare_draws_the_5_beam_columns_search(lab):
    await reveal_beam(lab)
    ada = lab.actor("Ada", roles=["Group 1"])
    compared = await ada.slash("compare", prompt=PROMPT, max_tokens=6)
    assert "the Beam tree button, or /beamtree" in compared.text
    column = next(f for f in compared.message.embeds[0]["fields"] if f["name"] == "5-Beam")
    tree = await lab.actor("Grace").click("Beam tree", message=compared.message)
    assert not tree.ephemeral and tree.message.files[0].filename == "beamtree.png"
    assert "The 5-Beam column's search, step by step." in tree.text
    assert winner(tree.message) == continuation(column["value"])


async def test_a_long_comparison_shows_its_first_steps(lab):
    await reveal_beam(lab)
    ada = lab.actor("Ada", roles=["Group 1"])
    compared = await ada.slash("compare", prompt=PROMPT, max_tokens=20)
    tree = await ada.click("Beam tree", message=compared.message)
    assert len(tree.message.embeds[0]["fields"]) == 8
    assert "The first 8 of the 5-Beam column's 20 steps" in tree.text


async def test_without_a_group_the_reply_names_the_command(lab):
    await reveal_beam(lab)
    compared = await lab.actor("Ada").slash("compare", prompt=PROMPT, max_tokens=4)
    assert compared.message.find_component(label="Beam tree") is None  # nothing stored
    assert "5-Beam step by step: /beamtree with this prompt" in compared.text


async def test_the_button_works_after_a_restart(tmp_path):
    async with running_lab(tmp_path) as lab:
        await reveal_beam(lab)
        ada = lab.actor("Ada", roles=["Group 1"])
        compared = await ada.slash("compare", prompt=PROMPT, max_tokens=5)
        await lab.restart_bot()
        tree = await ada.click("Beam tree", message=compared.message)
        assert tree.message.files and len(tree.message.embeds[0]["fields"]) == 5


async def test_bad_values_get_a_short_private_answer(lab):
    await reveal_beam(lab)
    ada = lab.actor("Ada")
    with pytest.raises(ActionError, match="max_tokens"):
        await ada.slash("beamtree", prompt=PROMPT, max_tokens=11)
    with pytest.raises(ActionError, match="num_beams"):
        await ada.slash("beamtree", prompt=PROMPT, num_beams=7)
    empty = await ada.slash("beamtree", prompt="   ")
    assert empty.ephemeral and "prompt is empty" in empty.text
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab limits", max_tokens=4)
    over = await ada.slash("beamtree", prompt=PROMPT)
    assert over.ephemeral and "max_tokens must be at most 4" in over.text
