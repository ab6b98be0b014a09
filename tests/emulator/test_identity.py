"""The emulated server's identity survives a new emulator: same ids, same commands."""

from __future__ import annotations

import pytest

from bot.config import ConfigError, Settings, StorageSettings
from bot.playground.harness import LabHarness
from discord_emulator import DiscordEmulator, identity
from discord_emulator.world import Channel


def test_a_restored_emulator_is_the_same_server(tmp_path):
    first = DiscordEmulator()
    ada = first.add_member("Ada", ["Group 1"])
    thread = Channel(first.ids.next(), "Discussion", first.guild.id, 11, 1, first.application_id)
    first.guild.channels[thread.id] = thread
    first.commands[f"guild:{first.guild.id}"] = {"help": {"id": "1", "name": "help"}}
    identity.save(first, tmp_path / "server.json")

    again = DiscordEmulator(identity=identity.load(tmp_path / "server.json"))
    assert again.application_id == first.application_id
    assert again.bot_user["id"] == str(first.application_id)
    assert again.token.split(".")[0] == first.token.split(".")[0]  # names the same bot
    assert again.guild.payload()["roles"] == first.guild.payload()["roles"]
    assert list(again.guild.channels.values()) == list(first.guild.channels.values())
    assert again.add_member("Ada", ["Group 1"]).id == ada.id
    assert again.guild.members[ada.id].roles == ada.roles
    assert again.commands == first.commands
    assert identity.load(tmp_path / "none.json") is None


@pytest.mark.parametrize("text", ["not json", "[]", '{"version": 1}', '{"version": 99}'])
def test_a_broken_server_file_is_a_clear_error(tmp_path, text):
    path = tmp_path / "server.json"
    path.write_text(text)
    settings = Settings(storage=StorageSettings(data_dir=tmp_path))
    with pytest.raises(ConfigError, match="delete it to start a new emulated server"):
        LabHarness(settings, server_file=path)
