"""A second, independent client library against the emulator: hikari, unmodified.

hikari was written from Discord's documentation (it is not a discord.py fork), so what it
does here is what it would do against Discord: connect, READY and GUILD_CREATE, register
commands, answer a slash command, a button and a modal, follow-ups and edits, attachments
both ways, threads, resume after a dropped connection, in every compression mode it has.
The emulator's contract checks run throughout: no violation may be recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import pytest

from discord_emulator import Actor, DiscordEmulator
from discord_emulator.world import Upload

hikari = pytest.importorskip("hikari")
shard_impl = pytest.importorskip("hikari.impl.shard")


def _compressions():
    from hikari.api.shard import GatewayCompression

    modes = {
        "none": None,
        "zlib-stream": GatewayCompression.TRANSPORT_ZLIB_STREAM,
        "payload-zlib": GatewayCompression.PAYLOAD_ZLIB_STREAM,
    }
    with contextlib.suppress(ImportError):
        from backports import zstd  # noqa: F401

        modes["zstd-stream"] = GatewayCompression.TRANSPORT_ZSTD_STREAM
    return modes


def lab_commands(rest):
    return [
        rest.slash_command_builder("ping", "Answer with a button"),
        rest.slash_command_builder("form", "Open a modal"),
        rest.slash_command_builder("later", "Defer, then follow up and edit").add_option(
            hikari.CommandOption(
                type=hikari.OptionType.STRING, name="words", description="Words", is_required=True
            )
        ),
        rest.slash_command_builder("upload", "Read an attachment").add_option(
            hikari.CommandOption(
                type=hikari.OptionType.ATTACHMENT,
                name="file",
                description="A file",
                is_required=True,
            )
        ),
        rest.slash_command_builder("thread", "Open a thread and post in it"),
    ]


async def answer(bot, event) -> None:
    """The test bot's interaction handler, written as a hikari user writes one."""
    i = event.interaction
    if isinstance(i, hikari.CommandInteraction):
        if i.command_name == "ping":
            row = bot.rest.build_message_action_row().add_interactive_button(
                hikari.ButtonStyle.PRIMARY, "again", label="Again"
            )
            await i.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE, "pong", component=row
            )
        elif i.command_name == "form":
            row = bot.rest.build_modal_action_row().add_text_input("answer", "Your answer")
            await i.create_modal_response("Question", "question", component=row)
        elif i.command_name == "later":
            await i.create_initial_response(hikari.ResponseType.DEFERRED_MESSAGE_CREATE)
            words = i.options[0].value
            await i.edit_initial_response(f"first: {words}")
            follow = await i.execute("follow-up", attachment=hikari.Bytes(b"abc", "notes.txt"))
            await i.edit_message(follow, "follow-up, edited")
        elif i.command_name == "upload":
            attachment = next(iter(i.resolved.attachments.values()))
            data = await attachment.read()
            await i.create_initial_response(
                hikari.ResponseType.MESSAGE_CREATE,
                f"{attachment.filename}: {len(data)} bytes, starts {data[:5].decode()}",
                attachment=hikari.Bytes(data[::-1], "reversed.txt"),
            )
        elif i.command_name == "thread":
            await i.create_initial_response(hikari.ResponseType.MESSAGE_CREATE, "opening")
            message = await i.fetch_initial_response()
            thread = await bot.rest.create_message_thread(i.channel_id, message, "Discussion")
            await bot.rest.create_message(thread, "first post in the thread")
    elif isinstance(i, hikari.ComponentInteraction):
        await i.create_initial_response(hikari.ResponseType.DEFERRED_MESSAGE_UPDATE)
        await i.edit_initial_response("pong again", components=[])
    elif isinstance(i, hikari.ModalInteraction):
        value = i.components[0].components[0].value
        await i.create_initial_response(
            hikari.ResponseType.MESSAGE_CREATE,
            f"you said {value}",
            flags=hikari.MessageFlag.EPHEMERAL,
        )


@contextlib.asynccontextmanager
async def hikari_bot(emu: DiscordEmulator, compression=None, monkeypatch=None):
    if monkeypatch is not None:
        defaults = dict(shard_impl.GatewayShardImpl.__init__.__kwdefaults__)
        defaults["compression"] = compression
        monkeypatch.setattr(shard_impl.GatewayShardImpl.__init__, "__kwdefaults__", defaults)
    bot = hikari.GatewayBot(emu.token, rest_url=emu.api_base, banner=None, logs=logging.WARNING)
    guild_seen = asyncio.Event()

    async def on_guild(event) -> None:
        guild_seen.set()

    async def on_interaction(event) -> None:
        await answer(bot, event)

    bot.subscribe(hikari.GuildAvailableEvent, on_guild)
    bot.subscribe(hikari.InteractionCreateEvent, on_interaction)
    await bot.start()
    try:
        await asyncio.wait_for(guild_seen.wait(), 10)
        yield bot
    finally:
        await bot.close()


@pytest.fixture(autouse=True)
def no_violations(emu):
    yield
    assert not emu.violations, "\n".join(map(str, emu.violations))


def actor(emu: DiscordEmulator) -> Actor:
    return Actor(emu, emu.add_member("Ada"), emu.guild.channel_named("lab").id)


@pytest.mark.parametrize("mode", list(_compressions()))
async def test_hikari_connects_and_answers_in_each_compression_mode(emu, monkeypatch, mode):
    async with hikari_bot(emu, _compressions()[mode], monkeypatch) as bot:
        guild = bot.cache.get_guild(emu.guild.id)
        assert guild is not None and guild.name == "Language Models Lab"
        # Without GUILD_PRESENCES, GUILD_CREATE carries only the bot's own member.
        assert set(bot.cache.get_members_view_for_guild(emu.guild.id)) == {emu.application_id}
        me = bot.get_me()
        assert me is not None and me.id == emu.application_id
        application = await bot.rest.fetch_application()
        await bot.rest.set_application_commands(
            application.id, lab_commands(bot.rest), guild=emu.guild.id
        )
        assert set(emu.commands[f"guild:{emu.guild.id}"]) == {
            "ping", "form", "later", "upload", "thread"
        }  # fmt: skip
        reply = await actor(emu).slash("ping")
        assert reply.text == "pong"


async def test_hikari_answers_buttons_modals_follow_ups_attachments_and_threads(emu):
    async with hikari_bot(emu) as bot:
        application = await bot.rest.fetch_application()
        await bot.rest.set_application_commands(
            application.id, lab_commands(bot.rest), guild=emu.guild.id
        )
        ada = actor(emu)

        await ada.slash("ping")
        clicked = await ada.click("Again")
        source = emu.messages[clicked.interaction.source_message_id]
        assert source.content == "pong again" and source.components == []

        opened = await ada.slash("form")
        assert opened.modal is not None and opened.modal["title"] == "Question"
        said = await ada.submit_modal({"Your answer": "tokens"})
        assert said.text == "you said tokens" and said.ephemeral

        later = await ada.slash("later", words="beam search")
        original, follow = later.messages
        assert original.content == "first: beam search"
        assert follow.content == "follow-up, edited" and follow.edits == 1
        assert follow.files[0].filename == "notes.txt" and follow.files[0].data == b"abc"

        upload = await ada.slash("upload", file=Upload("data.txt", b"hello world"))
        assert upload.text == "data.txt: 11 bytes, starts hello"
        assert upload.message.files[0].data == b"dlrow olleh"

        threaded = await ada.slash("thread")
        thread = emu.guild.channel_named("Discussion")
        assert thread is not None and thread.type == 11
        assert thread.id == threaded.message.id  # a thread started from the message
        posts = [emu.messages[m].content for m in emu.channel_messages[thread.id]]
        assert posts == ["first post in the thread"]


async def test_hikari_resumes_after_a_dropped_connection(emu):
    async with hikari_bot(emu) as bot:
        application = await bot.rest.fetch_application()
        await bot.rest.set_application_commands(
            application.id, lab_commands(bot.rest), guild=emu.guild.id
        )
        session = emu.gateway.session
        await emu.gateway.drop_connection()
        reply = await actor(emu).slash("ping")  # dispatched into the gap, replayed on RESUME
        assert reply.text == "pong"
        assert emu.gateway.session is session and session.resumes == 1
        assert emu.gateway.missed_heartbeats == 0
