"""/lab instructor controls and /explain, through the emulator."""

from __future__ import annotations

import pytest

PROMPT = "The best thing about AI is"


@pytest.fixture
def teacher(lab):
    return lab.actor("Ms Rivera", roles=["Instructor"])


async def test_a_student_is_denied_instructor_commands(lab):
    reply = await lab.actor("Ada", roles=["Group 1"]).slash("lab reveal")
    assert reply.ephemeral and "for instructors only" in reply.text
    registered = lab.emulator.commands[f"guild:{lab.emulator.guild.id}"]["lab"]
    assert registered["default_member_permissions"] == str(1 << 5)  # Manage Server


async def test_explanations_wait_for_the_reveal(lab, teacher):
    student = lab.actor("Ada", roles=["Group 1"])
    early = await student.slash("explain", method="Greedy search")
    assert early.ephemeral and "guess" in early.text
    reveal = await teacher.slash("lab reveal", method="Greedy search")
    assert "Revealed: Greedy search" in reveal.text
    explained = await student.slash("explain", method="greedy")
    assert "most likely" in explained.text and not explained.ephemeral
    still_hidden = await student.slash("explain", method="Beam search (5 beams)")
    assert still_hidden.ephemeral
    await teacher.slash("lab reveal")
    assert "5 most likely" in (await student.slash("explain", method="beam")).text
    await teacher.slash("lab hide")
    assert (await student.slash("explain", method="beam")).ephemeral


async def test_max_tokens_limit(lab, teacher):
    reply = await teacher.slash("lab limits", max_tokens=20)
    assert "max_tokens: 20" in reply.text
    refused = await lab.actor("Ada").slash("generate", prompt=PROMPT, max_tokens=30)
    assert refused.ephemeral and "at most 20 on this server" in refused.text
    too_high = await teacher.slash("lab limits", max_tokens=500)
    assert "at most the runner's ceiling, 100" in too_high.text


async def test_cooldown(lab, teacher):
    await teacher.slash("lab limits", cooldown=60)
    student = lab.actor("Ada")
    first = await student.slash("tokens", text="hello")
    assert not first.ephemeral
    second = await student.slash("tokens", text="hello again")
    assert second.ephemeral and "try again in" in second.text
    other = await lab.actor("Bea").slash("tokens", text="hello")  # per user
    assert not other.ephemeral


async def test_group_quota(lab, teacher):
    await teacher.slash("lab limits", group_quota=2)
    ada = lab.actor("Ada", roles=["Group 4"])
    bea = lab.actor("Bea", roles=["Group 4"])
    assert not (await ada.slash("tokens", text="one")).ephemeral
    assert not (await bea.slash("tokens", text="two")).ephemeral
    third = await ada.slash("tokens", text="three")
    assert third.ephemeral and "Group 4 has used its 2 requests" in third.text
    assert not (await lab.actor("Cy", roles=["Group 5"]).slash("tokens", text="x")).ephemeral


async def test_channels(lab, teacher):
    await teacher.slash("lab channel", channel="lab")
    elsewhere = await lab.actor("Ada").in_channel("general").slash("tokens", text="hi")
    assert elsewhere.ephemeral and "The lab runs in" in elsewhere.text
    assert not (await lab.actor("Ada").slash("tokens", text="hi")).ephemeral
    await teacher.slash("lab channel", channel="lab", allow=False)
    assert not (await lab.actor("Ada").in_channel("general").slash("tokens", text="hi")).ephemeral


async def test_marked_group_role(lab, teacher):
    await teacher.slash("lab grouprole", role="Table 7")
    reply = await lab.actor("Ada", roles=["Table 7"]).slash("compare", prompt=PROMPT, max_tokens=3)
    assert "Saved to Table 7's table" in reply.text
