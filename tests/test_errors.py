"""The shared error handler: replies always fit in a message, logs keep no student text or
runner credentials."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from bot.errors import MAX_CONTENT, LabError, report_error, send_ephemeral
from model_runner.protocol import RunnerUnavailable


class FakeResponse:
    """Records what the handler sends as the first response."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.type = None

    def is_done(self) -> bool:
        return bool(self.sent)

    async def send_message(self, content: str, ephemeral: bool = False) -> None:
        assert ephemeral
        self.sent.append(content)


def interaction(instructor: bool = False) -> SimpleNamespace:
    """Just enough of a discord.Interaction for `report_error`."""
    return SimpleNamespace(
        id=1,
        command=SimpleNamespace(qualified_name="case show"),
        user=SimpleNamespace(id=42),
        guild=None,  # no member at hand: treated as a student
        guild_id=7,
        client=SimpleNamespace(dispatch=lambda *args: None),
        response=FakeResponse(),
        is_expired=lambda: False,
    )


async def test_a_reply_is_clipped_to_discords_limit():
    target = interaction()
    await send_ephemeral(target, "word " * 1000)
    (sent,) = target.response.sent
    assert len(sent) <= MAX_CONTENT and sent.endswith("…")


async def test_the_log_keeps_only_the_start_of_what_a_student_typed(caplog):
    target = interaction()
    with caplog.at_level(logging.INFO, logger="bot.errors"):
        await report_error(target, LabError("No case " + "secret-essay " * 200))
    assert "secret-essay " * 10 not in caplog.text and "chars)" in caplog.text
    assert len(target.response.sent[0]) <= MAX_CONTENT


async def test_runner_addresses_are_hidden_from_students_and_the_log(caplog):
    target = interaction()
    error = RunnerUnavailable(
        "the model runner at http://lab:hunter2@10.0.0.5:8000/v1?token=abc did not answer"
    )
    with caplog.at_level(logging.INFO, logger="bot.errors"):
        await report_error(target, error)
    (sent,) = target.response.sent
    assert "10.0.0.5" not in sent and "hunter2" not in sent and "did not answer" in sent
    assert "hunter2" not in caplog.text and "token=abc" not in caplog.text


def test_a_command_out_of_step_with_discord_tells_the_student_to_reload():
    """A client that loaded the commands before the bot changed them sends old options."""
    from discord import app_commands

    from bot.errors import user_message

    class Old:
        name = qualified_name = "example"

    for error in (
        app_commands.CommandSignatureMismatch(Old()),
        app_commands.CommandNotFound("gone", []),
    ):
        message, expected = user_message(error)
        assert expected and "Reload Discord" in message


class Deferred:
    """An interaction answered with a public "thinking…" placeholder; records the calls."""

    def __init__(self, followup_fails: bool = False) -> None:
        import discord

        self.calls: list[tuple] = []
        self.response = SimpleNamespace(
            type=discord.InteractionResponseType.deferred_channel_message, is_done=lambda: True
        )
        self.id = 1
        self.is_expired = lambda: False
        fails = followup_fails

        async def send(content: str, ephemeral: bool = False) -> None:
            if fails:
                raise discord.HTTPException(SimpleNamespace(status=500, reason="boom"), "boom")
            self.calls.append(("followup", content, ephemeral))

        self.followup = SimpleNamespace(send=send)

    async def edit_original_response(self, **fields) -> None:
        self.calls.append(("edit", fields["content"]))

    async def delete_original_response(self) -> None:
        self.calls.append(("delete",))


async def test_after_a_public_placeholder_the_error_is_still_private():
    from bot.errors import PLACEHOLDER_ENDED

    target = Deferred()
    await send_ephemeral(target, "layer must be between 1 and 2")
    assert target.calls == [
        ("edit", PLACEHOLDER_ENDED),  # the placeholder no longer "thinks"...
        ("followup", "layer must be between 1 and 2", True),  # ...so this one stays private
        ("delete",),
    ]


async def test_if_the_private_reply_fails_the_placeholder_says_what_went_wrong():
    from bot.errors import PLACEHOLDER_ENDED

    target = Deferred(followup_fails=True)
    await send_ephemeral(target, "layer must be between 1 and 2")
    assert target.calls == [
        ("edit", PLACEHOLDER_ENDED),
        ("edit", "⚠️ layer must be between 1 and 2"),
    ]
