"""Meta-test: every extension loads, and the application commands are well formed."""

from __future__ import annotations

import subprocess
import sys

import pytest
from discord import app_commands

from bot.command_sync import command_payloads
from bot.config import Settings, StorageSettings
from bot.exts import find_extensions
from bot.lab_bot import LabBot
from model_runner.client import EmbeddedRunnerClient


@pytest.fixture
async def bot(tmp_path):
    settings = Settings(storage=StorageSettings(data_dir=tmp_path))
    lab_bot = LabBot(settings, EmbeddedRunnerClient(model="tiny"), sync_commands=False)
    async with lab_bot:  # sets up the client without logging in; closes it afterwards
        yield lab_bot


def test_extensions_are_found():
    found = find_extensions()
    assert "bot.exts.meta" in found
    assert all(not part.startswith("_") for name in found for part in name.split("."))


async def test_every_extension_loads_and_no_command_collides(bot):
    for name in find_extensions():
        await bot.load_extension(name)
    assert set(bot.extensions) == set(find_extensions())

    top_level = [command.name for command in bot.tree.get_commands()]
    assert len(top_level) == len(set(top_level)), f"duplicate commands: {sorted(top_level)}"
    assert len(top_level) <= 100  # Discord's limit of global chat commands

    for payload in command_payloads(bot.tree, None):
        assert 1 <= len(payload["description"]) <= 100, payload["name"]
    for command in bot.tree.walk_commands():
        if isinstance(command, app_commands.Command):
            assert command.description and command.description != "…", command.qualified_name


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("bot", "torch"), ("model_runner", "discord"), ("cases", "torch"), ("cases", "discord")],
)
def test_layering(package, forbidden):
    """bot never imports torch; model_runner never imports discord; cases imports neither."""
    code = (
        "import importlib, pkgutil, sys\n"
        f"import {package}\n"
        f"for m in pkgutil.walk_packages({package}.__path__, '{package}.'):\n"
        "    importlib.import_module(m.name)\n"
        f"bad = '{forbidden}' in sys.modules\n"
        "sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, f"{package} imports {forbidden}: {result.stderr[-2000:]}"
