"""compose.yaml without Docker: `labbot runner` and `labbot run` as two processes, the bot
pointed at the runner over HTTP and at a local Discord emulator; a student's /generate must
come back with text the runner generated.

Run with the Python of an environment where the package is installed (the wheel smoke test
does this from a clean virtualenv): python two_services.py DATA_DIR
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from discord_emulator import Actor, DiscordEmulator

LABBOT = str(Path(sys.executable).with_name("labbot"))  # the environment's own entry point


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_healthy(url: str, process: subprocess.Popen, timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            sys.exit(f"the runner exited with {process.returncode} before it was healthy")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    sys.exit(f"the runner was not healthy within {timeout_s:.0f} s")


async def main(data_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABBOT_", "DISCORD_"))}
    env["LABBOT_LOG_LEVEL"] = "WARNING"
    runner = subprocess.Popen(
        [LABBOT, "runner", "--model", "tiny", "--port", str(port)],
        env={**env, "LABBOT_DATA_DIR": str(data_dir / "runner")},
    )
    emulator = DiscordEmulator()
    bot = None
    try:
        wait_healthy(f"http://127.0.0.1:{port}/healthz", runner)
        print(f"runner healthy on port {port}")
        await emulator.start()
        bot = subprocess.Popen(
            [LABBOT, "run"],
            env={
                **env,
                "DISCORD_TOKEN": emulator.token,
                "LABBOT_DISCORD_API_BASE": emulator.api_base,
                "LABBOT_DEV_GUILD_ID": str(emulator.guild.id),
                "LABBOT_RUNNER_URL": f"http://127.0.0.1:{port}",
                "LABBOT_DATA_DIR": str(data_dir / "bot"),
            },
        )
        deadline = time.monotonic() + 120

        def connected() -> bool:  # commands registered and the gateway session identified
            scope = f"guild:{emulator.guild.id}"
            return bool(emulator.commands.get(scope)) and emulator.gateway.session is not None

        while not connected():
            if bot.poll() is not None:
                sys.exit(f"the bot exited with {bot.returncode} before it connected")
            if time.monotonic() > deadline:
                sys.exit("the bot did not connect within 120 s")
            await asyncio.sleep(0.2)
        member = emulator.add_member("Ada", ["Group 1"])
        student = Actor(emulator, member, emulator.guild.channel_named("lab").id)
        reply = await student.slash("generate", prompt="Once upon a time", max_tokens=5)
        embed = reply.message.embeds[0] if reply.message and reply.message.embeds else {}
        if reply.ephemeral or embed.get("title") != "Greedy" or not embed.get("description"):
            sys.exit(f"/generate did not come back from the runner: {reply.text!r} {embed}")
        if emulator.violations:
            sys.exit(f"the bot broke Discord's rules: {emulator.violations}")
        print("bot reached the runner: /generate answered", repr(embed["description"][:60]))
    finally:
        for process in (bot, runner):
            if process is not None and process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    process.kill()
        await emulator.stop()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
