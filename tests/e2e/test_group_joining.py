"""Groups without roles: open, joined with an instructor's approval, or locked."""

from __future__ import annotations


async def test_open_groups_let_anyone_join_by_name(lab):
    await lab.actor("Ada").slash("group join", name="Tokenizers")
    joined = await lab.actor("Eve").slash("group join", name="tokenizers")
    assert "You are now in **Tokenizers**" in joined.text


async def test_with_approval_joining_a_group_with_members_waits_for_an_instructor(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    set_mode = await teacher.slash("lab groupjoining", mode="approval")
    assert "needs an instructor's Approve" in set_mode.text
    ada = lab.actor("Ada")
    started = await ada.slash("group join", name="Tokenizers")  # a new group: free
    assert "You are now in **Tokenizers**" in started.text
    await ada.slash("finetune add", text="Our group's private sentence about tokens.")

    eve = lab.actor("Eve")
    asked = await eve.slash("group join", name="Tokenizers")
    assert "asks to join **Tokenizers**" in asked.text
    # Not in yet: the group's pool stays closed to her.
    pool = await eve.slash("finetune pool")
    assert pool.ephemeral and "not in a group yet" in pool.text
    denied = await ada.click("Approve", message=asked.message)  # a member is no instructor
    assert denied.ephemeral and "for instructors only" in denied.text
    await teacher.click("Approve", message=asked.message)
    assert "Approved by" in lab.emulator.messages[asked.message.id].text()
    shown = await eve.slash("finetune pool")
    assert "private sentence" in shown.message.embeds[0]["description"]


async def test_a_declined_request_leaves_the_member_outside(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    await teacher.slash("lab groupjoining", mode="approval")
    await lab.actor("Ada").slash("group join", name="Tokenizers")
    eve = lab.actor("Eve")
    asked = await eve.slash("group join", name="Tokenizers")
    await teacher.click("Decline", message=asked.message)
    assert "Declined by" in lab.emulator.messages[asked.message.id].text()
    assert "not in a group yet" in (await eve.slash("group show")).text


async def test_locked_groups_cannot_be_joined_started_or_left(lab):
    ada = lab.actor("Ada")
    await ada.slash("group join", name="Tokenizers")
    await lab.actor("Ms Rivera", roles=["Instructor"]).slash("lab groupjoining", mode="locked")
    for actor, command, options in (
        (lab.actor("Eve"), "group join", {"name": "Tokenizers"}),
        (lab.actor("Eve"), "group join", {"name": "New group"}),
        (ada, "group leave", {}),
    ):
        refused = await actor.slash(command, **options)
        assert refused.ephemeral and "locked by your instructor" in refused.text
    student = await ada.slash("lab groupjoining", mode="open")
    assert student.ephemeral and "for instructors only" in student.text
