"""Every kind of interaction round-trips through the emulator like it does through Discord."""

from __future__ import annotations

import asyncio

import pytest

from discord_emulator import ActionError, Upload
from tests.e2e.conftest import running_lab


@pytest.fixture
async def widgets(tmp_path):
    """The bot with the self-test widgets extension."""
    async with running_lab(tmp_path, extra_extensions=["tests.e2e.widgets"]) as harness:
        yield harness


async def test_button_click_updates_the_message(widgets):
    student = widgets.actor("Ada")
    await student.slash("widget buttons")
    reply = await student.click("Approve")
    assert reply.message.content == "approved"
    assert reply.message.find_component(label="Approve")["disabled"] is True
    with pytest.raises(ActionError, match="disabled"):
        await student.click("Approve")


async def test_error_in_a_button_gets_an_apology(widgets):
    student = widgets.actor("Ada")
    await student.slash("widget buttons")
    reply = await student.click("Fail")
    assert "error id" in reply.text and reply.ephemeral


async def test_select_menu(widgets):
    student = widgets.actor("Ada")
    await student.slash("widget select")
    reply = await student.select(["Greedy", "5-Beam"])
    assert reply.text == "picked greedy, beam"
    with pytest.raises(ActionError, match="select options are"):
        await student.select(["Contrastive"])


async def test_modal_submit_and_length_limit(widgets):
    student = widgets.actor("Ada")
    reply = await student.slash("widget modal")
    assert reply.modal["title"] == "Your group's answer"
    with pytest.raises(ActionError, match="at most 4000"):
        await student.submit_modal({"Answer": "x" * 4001})
    reply = await student.submit_modal({"Answer": "x" * 4000})
    assert reply.text == "saved 4000 characters"


async def test_attachment_in_and_file_out(widgets):
    student = widgets.actor("Ada")
    upload = Upload("sentences.txt", b"one\ntwo\nthree\n", "text/plain")
    reply = await student.slash("widget file", file=upload, shout="true")
    assert reply.messages[0].content == "3 lines"
    sent = reply.messages[1]
    assert sent.files[0].filename == "echo.txt"
    assert sent.files[0].data == b"ONE\nTWO\nTHREE\n"
    assert sent.payload["attachments"][0]["filename"] == "echo.txt"


async def test_channel_message_thread_and_edit(widgets):
    student = widgets.actor("Ada")
    await student.slash("widget thread")
    await asyncio.sleep(0.3)
    thread = widgets.emulator.guild.channel_named("Discussion")
    assert thread is not None and thread.type == 11
    posted = widgets.emulator.channel_history(student.channel_id)[-1]
    assert posted.content == "Case study 1 (discussion open)" and posted.id == thread.id
    assert widgets.emulator.channel_history(thread.id)[0].content == "Discuss here"


async def test_typed_options_are_checked_like_the_client(widgets):
    student = widgets.actor("Ada")
    assert (await student.slash("widget number", n="3", kind="Random")).text == "sampling x3"
    with pytest.raises(ActionError, match="between 1 and 5"):
        await student.slash("widget number", n=9)
    with pytest.raises(ActionError, match="must be one of"):
        await student.slash("widget number", n=1, kind="Beam")
    with pytest.raises(ActionError, match="'n' is required"):
        await student.slash("widget number")
    with pytest.raises(ActionError, match="needs a subcommand"):
        await student.slash("widget")
