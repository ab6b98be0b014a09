"""`labbot`: the one command line for running and operating the bot.

    labbot run              the Discord bot (needs DISCORD_TOKEN)
    labbot runner           the model runner as an HTTP service
    labbot serve            the model runner as replicas on Ray Serve (the serve extra)
    labbot playground       try the bot offline: a local Discord in your terminal
    labbot check-config     show the settings in effect, or the first bad one
    labbot migrate          create or upgrade the database, print its schema version
    labbot backup           copy the database safely while the bot runs

Exit codes: 0 success, 1 unexpected failure, 2 bad or missing configuration.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from bot import __version__
from bot.config import ConfigError, Settings, describe, load_settings

log = logging.getLogger("labbot")

EXIT_CONFIG = 2


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", type=Path, help="TOML settings file (default: labbot.toml)")
    parser.add_argument("--data-dir", help="overrides LABBOT_DATA_DIR")
    parser.add_argument("--model", help="overrides LABBOT_MODEL (Hub id, path, .gguf, preset)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every subcommand."""
    parser = argparse.ArgumentParser(prog="labbot", description=__doc__.split("\n")[0])
    parser.add_argument("--version", action="version", version=f"labbot {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = sub.add_parser("run", help="run the Discord bot")
    _common(run)

    runner = sub.add_parser("runner", help="serve the model runner over HTTP")
    _common(runner)
    runner.add_argument("--host", default="127.0.0.1", help="address to listen on")
    runner.add_argument("--port", type=int, default=8765, help="port to listen on")
    runner.add_argument("--device", help="overrides LABBOT_DEVICE (auto, cpu, cuda, mps)")

    ray = sub.add_parser("serve", help="serve the model runner on Ray Serve (the serve extra)")
    _common(ray)
    ray.add_argument("--host", default="127.0.0.1", help="address Serve's proxy listens on")
    ray.add_argument("--port", type=int, default=8765, help="port to listen on")
    ray.add_argument("--device", help="overrides LABBOT_DEVICE (auto, cpu, cuda, mps)")
    ray.add_argument("--replicas", type=int, default=1, help="replicas (the minimum if scaling)")
    ray.add_argument("--max-replicas", type=int, help="autoscale up to this many replicas")
    ray.add_argument("--gpus-per-replica", type=float, default=0, help="GPUs each replica takes")
    ray.add_argument(
        "--cpus-per-replica",
        type=float,
        help="CPU cores each replica computes with (default: this machine's cores / replicas)",
    )
    ray.add_argument(
        "--finetune-apart-over",
        type=int,
        default=0,
        metavar="STEPS",
        help="fine-tunes longer than STEPS optimiser steps train in a Ray worker of their own",
    )
    ray.add_argument(
        "--ray-address", default="", help="Ray cluster (`auto`: the one `ray start` began)"
    )

    playground = sub.add_parser(
        "playground", help="try the bot offline, with no Discord token (see README)"
    )
    _common(playground)
    playground.add_argument("--script", type=Path, help="run the actions in FILE and exit")
    playground.add_argument(
        "--out", type=Path, default=Path("playground-out"), help="where images and files go"
    )

    check = sub.add_parser("check-config", help="print the settings in effect")
    _common(check)

    migrate = sub.add_parser("migrate", help="create or upgrade the database")
    _common(migrate)

    backup = sub.add_parser("backup", help="copy the database (safe while the bot runs)")
    _common(backup)
    backup.add_argument("--out", type=Path, help="backup file (default: DATA_DIR/backups/...)")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "LABBOT_DATA_DIR": getattr(args, "data_dir", None),
        "LABBOT_MODEL": getattr(args, "model", None),
        "LABBOT_DEVICE": getattr(args, "device", None),
    }
    return load_settings(config_file=args.config, overrides=overrides)


def _configure_logging(level: str) -> None:
    """Log to stderr; URLs in log lines (the runner's, with any credentials) are redacted."""
    from bot.redact import RedactingFormatter

    logging.basicConfig(level=level, force=True)
    formatter = RedactingFormatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        handler.setFormatter(formatter)


def cmd_run(args: argparse.Namespace) -> int:
    """Run the bot until interrupted."""
    settings = _settings(args)
    token = settings.require_token()
    _configure_logging(settings.log_level)
    from bot.launch import run_bot

    return asyncio.run(run_bot(settings, token.get()))


def _runner_config(settings: Settings) -> dict:
    return {
        "model": settings.runner.model,
        "device": settings.runner.device,
        "data_dir": settings.storage.data_dir.resolve(),  # replicas may run elsewhere
        "model_cache": settings.storage.model_cache,
        "max_new_tokens": settings.runner.max_new_tokens,
        "device_power_w": settings.runner.device_power_w,
        "queue_size": settings.runner.queue_size,
        "finetunes_together": settings.runner.finetunes_together,
        "finetune_precision": settings.runner.finetune_precision,
        "threads": settings.runner.threads,
        "precision": settings.runner.precision,
    }


def cmd_runner(args: argparse.Namespace) -> int:
    """Serve the model runner over HTTP until interrupted."""
    settings = _settings(args)
    _configure_logging(settings.log_level)
    from model_runner.http import serve
    from model_runner.runner import ModelRunner, RunnerConfig

    runner = ModelRunner(RunnerConfig(**_runner_config(settings)))
    token = settings.runner.token.get() if settings.runner.token else None
    try:
        serve(runner, args.host, args.port, token)
    except PermissionError as error:
        raise ConfigError("LABBOT_RUNNER_TOKEN", str(error).split(": ", 1)[1]) from None
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the model runner on Ray Serve until interrupted."""
    settings = _settings(args)
    _configure_logging(settings.log_level)
    try:
        from model_runner import serve
    except ImportError:
        raise ConfigError(
            "labbot serve", "needs Ray Serve: pip install 'labbot[serve]' (or ./lab.sh setup serve)"
        ) from None
    token = settings.runner.token.get() if settings.runner.token else None
    config = {**_runner_config(settings), "interleave_max_steps": args.finetune_apart_over}
    cpus = args.cpus_per_replica or max(1, (os.cpu_count() or 1) // max(1, args.replicas))
    try:
        serve.run(
            config,
            host=args.host,
            port=args.port,
            token=token,
            ray_address=args.ray_address,
            replicas=args.replicas,
            max_replicas=args.max_replicas,
            cpus_per_replica=cpus,
            gpus_per_replica=args.gpus_per_replica,
        )
    except PermissionError as error:
        raise ConfigError("LABBOT_RUNNER_TOKEN", str(error).split(": ", 1)[1]) from None
    return 0


def cmd_playground(args: argparse.Namespace) -> int:
    """The bot against a local Discord emulator, interactively or from a script."""
    import dataclasses
    import tempfile

    settings = _settings(args)
    _configure_logging("WARNING" if settings.log_level == "INFO" else settings.log_level)
    logging.getLogger("discord.client").setLevel(logging.ERROR)  # voice-library notices
    from bot.playground.session import run_interactive, run_script

    with tempfile.TemporaryDirectory(prefix="labbot-playground-") as scratch:
        if args.data_dir is None:  # a fresh class each run unless --data-dir keeps one
            storage = dataclasses.replace(settings.storage, data_dir=Path(scratch))
            settings = dataclasses.replace(settings, storage=storage)
        if args.script is not None:
            if not args.script.is_file():
                raise ConfigError("--script", f"no file {args.script}")
            return asyncio.run(run_script(settings, args.script, args.out))
        return asyncio.run(run_interactive(settings, args.out))


def cmd_check_config(args: argparse.Namespace) -> int:
    """Print every setting's value (secrets hidden)."""
    settings = _settings(args)
    width = max(len(name) for name, _ in describe(settings))
    for name, value in describe(settings):
        print(f"{name:<{width}}  {value}")
    if settings.discord.token is None:
        print("\nDISCORD_TOKEN is not set: `labbot run` needs it (see README).")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    """Apply pending migrations and print the schema version."""
    settings = _settings(args)

    async def migrate() -> int:
        from bot.storage import Database

        db = await Database.open(settings.storage.database_path)
        try:
            return await db.schema_version()
        finally:
            await db.close()

    version = asyncio.run(migrate())
    print(f"{settings.storage.database_path}: schema version {version}")
    return 0


def cmd_backup(args: argparse.Namespace) -> int:
    """Back up the database with SQLite's online backup API."""
    settings = _settings(args)
    from bot.storage import backup_file, default_backup_path

    target = args.out or default_backup_path(settings.storage.data_dir)
    try:
        backup_file(settings.storage.database_path, target)
    except FileNotFoundError:
        raise ConfigError(
            "LABBOT_DATA_DIR", f"no database at {settings.storage.database_path}"
        ) from None
    print(f"backed up {settings.storage.database_path} to {target}")
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "run": cmd_run,
    "runner": cmd_runner,
    "serve": cmd_serve,
    "playground": cmd_playground,
    "check-config": cmd_check_config,
    "migrate": cmd_migrate,
    "backup": cmd_backup,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `labbot` console script."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as error:
        print(f"labbot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
