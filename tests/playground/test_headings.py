"""Who a message in the transcript answers, who can see it, and where it is."""

from __future__ import annotations

from bot.config import RunnerSettings, Settings, StorageSettings
from bot.playground.session import Playground
from discord_emulator import Actor
from discord_emulator.rest import EPHEMERAL, Api


def test_messages_for_other_members_and_channels_are_printed_with_whom(tmp_path):
    settings = Settings(
        runner=RunnerSettings(model="tiny"), storage=StorageSettings(data_dir=tmp_path)
    )
    printed: list[str] = []
    playground = Playground(settings, tmp_path / "out", echo=printed.append)  # not started
    emulator = playground.harness.emulator
    api = Api(emulator)
    lab, general = (emulator.guild.channel_named(n).id for n in ("lab", "general"))
    ada = emulator.add_member("Ada", ["Group 1"])
    playground.actor = Actor(emulator, emulator.add_member("Ms Rivera", ["Instructor"]), lab)
    asked = emulator.new_interaction(2, ada.id, lab)
    api._new_message(lab, {"content": "Ada's table"}, [], interaction_id=asked.id)
    api._new_message(general, {"content": "only Ada"}, [], flags=EPHEMERAL, interaction_id=asked.id)
    api._new_message(general, {"content": "Hello, class"}, [])
    playground.feed.flush()
    assert printed == [
        "[bot, answering Ada]\n  Ada's table",
        "[bot (only Ada can see this) in #general]\n  only Ada",
        "[bot in #general]\n  Hello, class",
    ]
