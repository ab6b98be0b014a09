"""`labbot run` when Discord cannot be reached: one clear line, not a traceback."""

from __future__ import annotations

import socket

from bot.config import DiscordSettings, RunnerSettings, Settings, StorageSettings
from bot.launch import run_bot


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def test_unreachable_discord_is_one_line(tmp_path, capsys):
    api_base = f"http://127.0.0.1:{closed_port()}/api/v10"
    settings = Settings(
        discord=DiscordSettings(api_base=api_base),
        runner=RunnerSettings(model="tiny", device="cpu"),
        storage=StorageSettings(data_dir=tmp_path),
    )
    assert await run_bot(settings, "a-token") == 1
    message = capsys.readouterr().err
    assert f"cannot reach Discord at {api_base}" in message
    assert "internet connection" in message and "Traceback" not in message


def test_the_model_cache_setting_reaches_the_runner(clean_env, tmp_path):
    from bot.cli import _runner_config
    from bot.config import load_settings
    from bot.launch import runner_client

    settings = load_settings(environ={"LABBOT_MODEL_CACHE": str(tmp_path / "weights")})
    assert settings.storage.model_cache == tmp_path / "weights"
    assert runner_client(settings)._config["model_cache"] == tmp_path / "weights"
    assert _runner_config(settings)["model_cache"] == tmp_path / "weights"  # runner and serve
    assert load_settings(environ={}).storage.model_cache is None  # the user's cache
