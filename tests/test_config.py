"""Settings: sources, precedence, validation messages, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.cli import main
from bot.config import ConfigError, Secret, describe, load_settings


def test_defaults_need_nothing(clean_env):
    settings = load_settings(environ={})
    assert settings.runner.model == "openai-community/gpt2"
    assert settings.runner.url == ""
    assert settings.discord.token is None
    assert settings.storage.data_dir == Path("data")


def test_environment_values_are_parsed(clean_env):
    settings = load_settings(
        environ={
            "DISCORD_TOKEN": "abc.def",
            "LABBOT_DEV_GUILD_ID": "123456789012345678",
            "LABBOT_INSTRUCTOR_ROLES": "Teacher, Tutor ,",
            "LABBOT_MAX_NEW_TOKENS": "40",
            "LABBOT_RUNNER_URL": "http://gpu-box:8765/",
            "LABBOT_FINETUNES_TOGETHER": "4",
            "LABBOT_FINETUNE_PRECISION": "FP32",
            "LABBOT_THREADS": "1",
            "LABBOT_PRECISION": "BF16",
        }
    )
    assert settings.runner.threads == 1
    assert settings.runner.precision == "bf16"
    assert settings.runner.finetunes_together == 4
    assert settings.runner.finetune_precision == "fp32"
    assert settings.discord.token == Secret("abc.def")
    assert settings.discord.dev_guild_id == 123456789012345678
    assert settings.discord.instructor_roles == ("Teacher", "Tutor")
    assert settings.runner.max_new_tokens == 40
    assert settings.runner.url == "http://gpu-box:8765"


def test_precedence_env_over_dotenv_over_toml(clean_env):
    (clean_env / "labbot.toml").write_text(
        '[runner]\nmodel = "from-toml"\ndevice = "cpu"\n[storage]\ndata_dir = "toml-data"\n'
    )
    (clean_env / ".env").write_text('LABBOT_MODEL="from-dotenv"\nexport LABBOT_DEVICE=cuda\n')
    settings = load_settings(environ={"LABBOT_MODEL": "from-env"})
    assert settings.runner.model == "from-env"
    assert settings.runner.device == "cuda"
    assert settings.storage.data_dir == Path("toml-data")


def test_command_line_override_wins(clean_env):
    settings = load_settings(environ={"LABBOT_MODEL": "env"}, overrides={"LABBOT_MODEL": "cli"})
    assert settings.runner.model == "cli"


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("LABBOT_DEV_GUILD_ID", "my-server", "LABBOT_DEV_GUILD_ID: must be a Discord server id"),
        ("LABBOT_MAX_NEW_TOKENS", "5000", "LABBOT_MAX_NEW_TOKENS: must be a whole number from 1"),
        ("LABBOT_DEVICE", "gpu", "LABBOT_DEVICE: must be auto, cpu"),
        ("LABBOT_RUNNER_URL", "gpu-box:8765", "LABBOT_RUNNER_URL: must be an http://"),
        ("LABBOT_LOG_LEVEL", "chatty", "LABBOT_LOG_LEVEL: must be one of"),
        ("LABBOT_FINETUNE_PRECISION", "fp16", "LABBOT_FINETUNE_PRECISION: must be auto, fp32"),
        ("LABBOT_FINETUNES_TOGETHER", "0", "LABBOT_FINETUNES_TOGETHER: must be a whole number"),
        ("DISCORD_TOKEN", "two words", "DISCORD_TOKEN: must not contain spaces"),
    ],
)
def test_invalid_value_names_the_setting(clean_env, name, value, expected):
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={name: value})
    message = str(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message
    assert caught.value.setting == name


def test_invalid_toml_value_says_where_it_came_from(clean_env):
    (clean_env / "labbot.toml").write_text("[runner]\nmax_new_tokens = 0\n")
    with pytest.raises(ConfigError, match=r"LABBOT_MAX_NEW_TOKENS: .*\(from labbot.toml\)"):
        load_settings(environ={})


def test_unknown_toml_key_is_rejected(clean_env):
    (clean_env / "labbot.toml").write_text("[runner]\nmodle = 'gpt2'\n")
    with pytest.raises(ConfigError, match="unknown setting 'modle' in \\[runner\\]"):
        load_settings(environ={})


def test_missing_config_file_is_an_error(clean_env):
    with pytest.raises(ConfigError, match="LABBOT_CONFIG: file nope.toml does not exist"):
        load_settings(environ={"LABBOT_CONFIG": "nope.toml"})


def test_secrets_never_show(clean_env):
    settings = load_settings(environ={"DISCORD_TOKEN": "super-secret-token"})
    assert "super-secret-token" not in repr(settings)
    assert "super-secret-token" not in str(describe(settings))
    assert settings.require_token().get() == "super-secret-token"


def test_run_without_token_explains_and_exits_2(clean_env, capsys):
    assert main(["run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0
    assert "DISCORD_TOKEN" in err and "labbot playground" in err


def test_check_config_exits_2_on_bad_setting(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("LABBOT_QUEUE_SIZE", "lots")
    assert main(["check-config"]) == 2
    assert capsys.readouterr().err.startswith("labbot: LABBOT_QUEUE_SIZE:")


def test_check_config_hides_token(clean_env, monkeypatch, capsys):
    monkeypatch.setenv("DISCORD_TOKEN", "hidden-value")
    assert main(["check-config"]) == 0
    out = capsys.readouterr().out
    assert "hidden-value" not in out and "set (hidden)" in out
