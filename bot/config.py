"""Typed settings for the bot and the model runner.

Every setting has one environment variable and one place in an optional TOML file
(`labbot.toml` in the working directory, or the file named by `--config` / `LABBOT_CONFIG`).
Values are looked up in this order, first found wins: the process environment, a `.env` file
in the working directory, the TOML file, the built-in default.

A bad or missing value raises `ConfigError`, whose message is one line that names the setting
and says what is allowed; the command line turns it into exit code 2.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.redact import redact_url

DEFAULT_MODEL = "openai-community/gpt2"
DISCORD_API_BASE = "https://discord.com/api/v10"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """A setting is missing or invalid; `str()` is one line naming it."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting


class Secret:
    """A string that never shows itself in logs, reprs or error messages."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def get(self) -> str:
        """Return the secret value; only call this where the value is actually used."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('**********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class DiscordSettings:
    """How the bot reaches Discord and who counts as an instructor."""

    token: Secret | None = None  # bot token from the Developer Portal; required by `labbot run`
    api_base: str = DISCORD_API_BASE  # Discord's HTTP API; the emulator replaces it in tests
    dev_guild_id: int | None = None  # sync commands to this one server instantly (development)
    instructor_roles: tuple[str, ...] = ("Instructor",)  # role names or ids with lab controls


@dataclass(frozen=True)
class RunnerSettings:
    """Which model the class uses and where the model runner lives."""

    model: str = DEFAULT_MODEL  # Hub id, local directory, .gguf file, `gemma-offline` or `tiny`
    url: str = ""  # empty: the runner runs inside the bot's process
    token: Secret | None = None  # bearer token between bot and an HTTP runner
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps
    max_new_tokens: int = 100  # ceiling on new tokens for any one request
    device_power_w: float = 0.0  # watts for the energy estimate; 0 means a default per device
    queue_size: int = 256  # requests waiting beyond this get "busy, try again in N s"
    finetunes_together: int = 8  # groups' fine-tunes trained in one pass; more wait in turn
    finetune_precision: str = "auto"  # auto (bfloat16 where the hardware has it), fp32, bf16
    threads: int = 0  # torch intra-op threads for decoding; 0: measured (all cores or half)
    precision: str = (
        "auto"  # the served model: auto (fp32 on a CPU, bf16/fp16 on a GPU), fp32, bf16
    )


@dataclass(frozen=True)
class StorageSettings:
    """Where state is kept on disk."""

    data_dir: Path = Path("data")  # database, adapters, fine-tune jobs, backups
    cases_dir: Path | None = None  # instructors' own case-study files (*.toml), if any
    model_cache: Path | None = None  # converted model weights; None: the per-user cache

    @property
    def database_path(self) -> Path:
        """The bot's SQLite database file."""
        return self.data_dir / "labbot.sqlite3"


@dataclass(frozen=True)
class Settings:
    """All settings, one section per part of the system."""

    discord: DiscordSettings = field(default_factory=DiscordSettings)
    runner: RunnerSettings = field(default_factory=RunnerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    log_level: str = "INFO"

    def require_token(self) -> Secret:
        """Return the Discord token, or explain how to get one."""
        if self.discord.token is None:
            raise ConfigError(
                "DISCORD_TOKEN",
                "not set. Create a bot at https://discord.com/developers/applications and put "
                "its token in DISCORD_TOKEN (environment or .env; see README), or try "
                "everything offline first: labbot playground --model gemma-offline",
            )
        return self.discord.token


# --- parsing ------------------------------------------------------------------------------


def _text(raw: Any) -> str:
    if not isinstance(raw, str):
        raise ValueError("must be text")
    return raw.strip()


def _secret(raw: Any) -> Secret | None:
    value = _text(raw)
    if not value:
        return None
    if any(c.isspace() for c in value):
        raise ValueError("must not contain spaces (paste the token alone)")
    return Secret(value)


def _snowflake(raw: Any) -> int | None:
    if raw in ("", None):
        return None
    text = str(raw).strip()
    if not text.isdigit() or not 15 <= len(text) <= 21:
        raise ValueError("must be a Discord server id (a number of 17-20 digits)")
    return int(text)


def _names(raw: Any) -> tuple[str, ...]:
    items = raw if isinstance(raw, list) else str(raw).split(",")
    return tuple(str(item).strip() for item in items if str(item).strip())


def _url(raw: Any) -> str:
    value = _text(raw).rstrip("/")
    if value and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError("must be an http:// or https:// URL, or empty")
    return value


def _device(raw: Any) -> str:
    value = _text(raw).lower()
    if not re.fullmatch(r"auto|cpu|mps|cuda(:\d+)?", value):
        raise ValueError("must be auto, cpu, cuda, cuda:N or mps")
    return value


def _int_range(low: int, high: int) -> Callable[[Any], int]:
    def parse(raw: Any) -> int:
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise ValueError(f"must be a whole number from {low} to {high}") from None
        if not low <= value <= high:
            raise ValueError(f"must be a whole number from {low} to {high}")
        return value

    return parse


def _watts(raw: Any) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        raise ValueError("must be a number of watts from 0 to 10000") from None
    if not 0 <= value <= 10_000:
        raise ValueError("must be a number of watts from 0 to 10000")
    return value


def _path(raw: Any) -> Path:
    value = _text(raw)
    if not value:
        raise ValueError("must be a directory path")
    return Path(value).expanduser()


def _optional_dir(raw: Any) -> Path | None:
    value = _text(raw)
    return Path(value).expanduser() if value else None


def _precision(raw: Any) -> str:
    value = _text(raw).lower()
    if value not in ("auto", "fp32", "bf16"):
        raise ValueError("must be auto, fp32 or bf16")
    return value


def _log_level(raw: Any) -> str:
    value = _text(raw).upper()
    if value not in LOG_LEVELS:
        raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
    return value


@dataclass(frozen=True)
class SettingSpec:
    """One setting: where it is read from, how it is parsed, what it is for."""

    env: str
    section: str  # TOML table and Settings attribute ("" for top level)
    key: str
    parse: Callable[[Any], Any]
    help: str


SPECS: tuple[SettingSpec, ...] = (
    SettingSpec(
        "DISCORD_TOKEN",
        "discord",
        "token",
        _secret,
        "Bot token from the Discord Developer Portal. Secret: never logged.",
    ),
    SettingSpec(
        "LABBOT_DISCORD_API_BASE",
        "discord",
        "api_base",
        _url,
        "Discord HTTP API base URL. Only the emulator and playground change it.",
    ),
    SettingSpec(
        "LABBOT_DEV_GUILD_ID",
        "discord",
        "dev_guild_id",
        _snowflake,
        "A server id: commands sync to it instantly instead of globally.",
    ),
    SettingSpec(
        "LABBOT_INSTRUCTOR_ROLES",
        "discord",
        "instructor_roles",
        _names,
        "Comma-separated role names or ids whose members get instructor controls.",
    ),
    SettingSpec(
        "LABBOT_MODEL",
        "runner",
        "model",
        _text,
        "Hub id, local directory, .gguf file, `gemma-offline` or `tiny`.",
    ),
    SettingSpec(
        "LABBOT_RUNNER_URL",
        "runner",
        "url",
        _url,
        "URL of a `labbot runner` service; empty runs the model in the bot's process.",
    ),
    SettingSpec(
        "LABBOT_RUNNER_TOKEN",
        "runner",
        "token",
        _secret,
        "Bearer token shared by bot and runner; required when the runner listens beyond loopback.",
    ),
    SettingSpec("LABBOT_DEVICE", "runner", "device", _device, "auto, cpu, cuda, cuda:N or mps."),
    SettingSpec(
        "LABBOT_MAX_NEW_TOKENS",
        "runner",
        "max_new_tokens",
        _int_range(1, 1024),
        "Ceiling on new tokens per request (1-1024).",
    ),
    SettingSpec(
        "LABBOT_DEVICE_POWER_W",
        "runner",
        "device_power_w",
        _watts,
        "Device power in watts for energy estimates; 0 picks a typical figure.",
    ),
    SettingSpec(
        "LABBOT_QUEUE_SIZE",
        "runner",
        "queue_size",
        _int_range(1, 10_000),
        "Requests that may wait for the model before new ones are told to retry.",
    ),
    SettingSpec(
        "LABBOT_FINETUNES_TOGETHER",
        "runner",
        "finetunes_together",
        _int_range(1, 64),
        "Groups' fine-tunes trained together (1-64); more wait for a place.",
    ),
    SettingSpec(
        "LABBOT_FINETUNE_PRECISION",
        "runner",
        "finetune_precision",
        _precision,
        "Fine-tune passes in bfloat16 where the hardware has it (auto), always (bf16) or never (fp32).",
    ),
    SettingSpec(
        "LABBOT_THREADS",
        "runner",
        "threads",
        _int_range(0, 1024),
        "CPU threads per matrix product; 0 measures whether all cores or half decode faster.",
    ),
    SettingSpec(
        "LABBOT_PRECISION",
        "runner",
        "precision",
        _precision,
        "The served model's numbers: auto (float32 on a CPU), fp32 or bf16 (faster, approximate).",
    ),
    SettingSpec(
        "LABBOT_DATA_DIR",
        "storage",
        "data_dir",
        _path,
        "Directory for the database, adapters, fine-tune jobs and backups.",
    ),
    SettingSpec(
        "LABBOT_CASES_DIR",
        "storage",
        "cases_dir",
        _optional_dir,
        "A folder of extra case-study files (*.toml) beside the built-in four.",
    ),
    SettingSpec(
        "LABBOT_MODEL_CACHE",
        "storage",
        "model_cache",
        _optional_dir,
        "Folder for converted model weights (gemma-offline); empty: $XDG_CACHE_HOME/llm-lab-bot "
        "or ~/.cache/llm-lab-bot.",
    ),
    SettingSpec("LABBOT_LOG_LEVEL", "", "log_level", _log_level, "DEBUG, INFO, WARNING or ERROR."),
)


def read_dotenv(path: Path) -> dict[str, str]:
    """Parse a `.env` file: KEY=VALUE lines, `#` comments, optional quotes and `export`."""
    values: dict[str, str] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        line = line.removeprefix("export ").strip()
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key.strip()):
            raise ConfigError(str(path), f"line {number} is not KEY=VALUE")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def read_toml(path: Path) -> dict[str, Any]:
    """Read the TOML settings file, or explain where it is broken."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("LABBOT_CONFIG", f"file {path} does not exist") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(str(path), f"not valid TOML ({error})") from None


def load_settings(
    environ: Mapping[str, str] | None = None,
    config_file: Path | None = None,
    dotenv_file: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build `Settings` from the environment, `.env`, TOML and defaults.

    `overrides` maps environment names to values given on the command line; they win.
    """
    environ = dict(os.environ if environ is None else environ)
    dotenv_file = dotenv_file if dotenv_file is not None else Path(".env")
    dotenv = read_dotenv(dotenv_file) if dotenv_file.is_file() else {}
    config_name = environ.get("LABBOT_CONFIG") or dotenv.get("LABBOT_CONFIG")
    if config_file is None and config_name:
        config_file = Path(config_name)
    if config_file is None and Path("labbot.toml").is_file():
        config_file = Path("labbot.toml")
    toml = read_toml(config_file) if config_file is not None else {}
    _reject_unknown_toml(toml, config_file)

    sections: dict[str, dict[str, Any]] = {"discord": {}, "runner": {}, "storage": {}, "": {}}
    for spec in SPECS:
        table = toml.get(spec.section, {}) if spec.section else toml
        if overrides and spec.env in overrides and overrides[spec.env] is not None:
            raw, origin = overrides[spec.env], "command line"
        elif spec.env in environ:
            raw, origin = environ[spec.env], "environment"
        elif spec.env in dotenv:
            raw, origin = dotenv[spec.env], ".env"
        elif spec.key in table:
            raw, origin = table[spec.key], str(config_file)
        else:
            continue
        try:
            sections[spec.section][spec.key] = spec.parse(raw)
        except ValueError as error:
            raise ConfigError(spec.env, f"{error} (from {origin})") from None
    return Settings(
        discord=DiscordSettings(**sections["discord"]),
        runner=RunnerSettings(**sections["runner"]),
        storage=StorageSettings(**sections["storage"]),
        **sections[""],
    )


def _reject_unknown_toml(toml: dict[str, Any], path: Path | None) -> None:
    """A typo in the TOML file should not be silently ignored."""
    known = {(spec.section, spec.key) for spec in SPECS}
    for name, value in toml.items():
        if isinstance(value, dict):
            if name not in {"discord", "runner", "storage"}:
                raise ConfigError(str(path), f"unknown table [{name}]")
            for key in value:
                if (name, key) not in known:
                    raise ConfigError(str(path), f"unknown setting {key!r} in [{name}]")
        elif ("", name) not in known:
            raise ConfigError(str(path), f"unknown setting {name!r}")


def describe(settings: Settings) -> list[tuple[str, str]]:
    """Each setting's environment name and its current value, secrets masked."""
    rows = []
    for spec in SPECS:
        section = getattr(settings, spec.section) if spec.section else settings
        value = getattr(section, spec.key)
        if isinstance(value, Secret):
            shown = "set (hidden)"
        elif value is None:
            shown = "not set"
        elif isinstance(value, tuple):
            shown = ", ".join(value) or "(none)"
        else:
            shown = str(value) if value != "" else "(empty)"
        if spec.key == "url" and value:
            shown = redact_url(value)  # a URL may carry a password or a token
        rows.append((spec.env, shown))
    return rows
