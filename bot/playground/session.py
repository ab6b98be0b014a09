"""Run playground steps against the emulator + bot and print a transcript.

`labbot playground` (interactive) and `labbot playground --script FILE` both end up here.
A script fails (exit code 1) when a reply was an error it did not `expect`, an expectation
was not met, or the bot broke a Discord contract rule. The emulated server is kept in the data
directory (`playground-server.json`), so a later run with the same `--data-dir` is the same
class to the bot.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from pathlib import Path

import discord

from bot.config import Settings
from bot.playground.feed import Feed, normalise
from bot.playground.harness import LabHarness
from bot.playground.inputs import modal_values, slash_options
from bot.playground.render import render_modal, shown_text
from bot.playground.script import ScriptError, Step, parse_line, parse_script
from bot.playground.words import opens_block
from discord_emulator import ActionError, Actor, Reply
from discord_emulator.world import Message

log = logging.getLogger(__name__)

DEFAULT_USER = "Student"
INSTRUCTOR_ROLE = "Instructor"
SERVER_FILE = "playground-server.json"  # the emulated server's ids, in the data directory
ACTIONS = ("slash", "click", "select", "modal")  # steps that make the bot do something


class Playground:
    """One playground run: the harness, the acting user, and the outcome so far."""

    def __init__(self, settings: Settings, out_dir: Path, echo=print) -> None:
        self.harness = LabHarness(settings, server_file=settings.storage.data_dir / SERVER_FILE)
        self.out_dir = out_dir
        self.echo = echo
        self.feed = Feed(self.harness.emulator, out_dir, echo, self._who)
        self.actor: Actor | None = None
        self.last: Reply | None = None
        self.errored: dict[int, str] = {}  # interaction id -> error message
        self.failures: list[str] = []
        self.wait_limit_s = 600.0  # the longest `wait` or `wait for`
        self._expected_error = False
        self._since = 0  # `wait for` looks at the feed's events from here (the last action)

    async def start(self) -> None:
        """Start emulator and bot; act as a student in #lab."""
        await self.harness.start()
        if self.harness.bot is None:
            raise RuntimeError("the harness started no bot")
        self.harness.bot.add_listener(self._on_error, "on_lab_command_error")
        self.actor = self.harness.actor(DEFAULT_USER)
        self.echo(
            f"playground ready: acting as {DEFAULT_USER} in #lab "
            f"(model {self.harness.settings.runner.model})"
        )

    async def _on_error(self, interaction: discord.Interaction, message: str, expected: bool):
        self.errored[interaction.id] = message

    async def stop(self) -> None:
        await self.harness.stop()

    # --- steps --------------------------------------------------------------------------

    async def run_line(self, text: str, number: int = 0) -> None:
        """Parse and run one line, reporting problems instead of raising."""
        try:
            step = parse_line(text, number)
        except ScriptError as error:
            self._fail(str(error))
            return
        if step is not None:
            await self.run_step(step)
        else:  # an empty line: what the bot posted meanwhile
            self.feed.flush()

    async def run_step(self, step: Step) -> None:
        """Run one step and print what happened."""
        self.feed.flush()  # what the bot posted since the last step
        if step.kind in ACTIONS:
            self._since = self.feed.mark()
        if step.kind not in ("expect", "expect_error"):  # those look at the last reply
            self._check_unexpected_error()
        try:
            await self._run(step)
        except ActionError as error:
            self._fail(f"line {step.line}: {error}" if step.line else str(error))
        self.feed.flush()
        self._flush_violations()
        self.harness.save_server()  # new members and roles belong to the class too

    async def _run(self, step: Step) -> None:
        assert self.actor is not None
        if step.kind == "slash":
            typed = [f"/{' '.join(step.words)}"]
            typed += [f"{k}:{_quoted(v)}" for k, v in step.options.items()]
            self.echo("\n> " + " ".join(typed))
            options = slash_options(self.harness.emulator, step.words, step.options)
            self._show(await self.actor.slash(" ".join(step.words), **options))
        elif step.kind == "as":
            roles = [r.strip() for r in step.options.get("roles", "").split(",") if r.strip()]
            channel = self.harness.emulator.guild.channels[self.actor.channel_id].name
            self.actor = self.harness.actor(step.words[0], roles, channel)
            self.echo(
                f"\n(now acting as {step.words[0]}"
                + (f" with roles {', '.join(roles)})" if roles else ", no roles)")
            )
        elif step.kind == "channel":
            self.actor = self.actor.in_channel(step.words[0])
            self.echo(f"\n(now in #{step.words[0]})")
        elif step.kind == "click":
            self.echo(f"\n> click {step.words[0]}")
            self._show(await self.actor.click(step.words[0]))
        elif step.kind == "select":
            self.echo(f"\n> select {', '.join(step.words)}")
            self._show(await self.actor.select(list(step.words)))
        elif step.kind == "modal":
            self.echo("\n> modal " + ", ".join(step.options))
            fields = modal_values(self.actor, step.options)
            self._show(await self.actor.submit_modal(fields))
        elif step.kind == "wait":
            await self._wait_quiet(float(step.words[0]) if step.words else 2.0)
        elif step.kind == "wait_for":
            await self._wait_for(step.words[0])
        elif step.kind == "expect":
            if not self._last_reply_says(step.words[0]):
                self._fail(
                    f"line {step.line}: expected the last reply to contain {step.words[0]!r}"
                )
        elif step.kind == "expect_error":
            if self.last is None or self.last.interaction.id not in self.errored:
                self._fail(f"line {step.line}: expected the last reply to be an error")
            self._expected_error = True

    def _last_reply_says(self, text: str) -> bool:
        """The last reply contains `text`, as sent or as the transcript shows it."""
        if self.last is None:
            return False
        shown = "\n".join(shown_text(m) for m in self.last.messages)
        return normalise(text) in normalise(shown) or text.lower() in self.last.text.lower()

    def _who(self, message: Message) -> str:
        """A message's heading: who it answers and can see it, and its channel if not ours."""
        emulator, actor = self.harness.emulator, self.actor
        interaction = emulator.interactions.get(message.interaction_id or 0)
        owner = interaction.user_id if interaction is not None else None
        mine = owner is None or actor is None or owner == actor.member.id
        member = emulator.guild.members.get(owner or 0)
        name = member.user.get("global_name") if member is not None else "someone"
        if message.ephemeral:
            who = "bot (only you can see this)" if mine else f"bot (only {name} can see this)"
        else:
            who = "bot" if mine else f"bot, answering {name}"
        channel_id = int(message.payload["channel_id"])
        if actor is not None and channel_id != actor.channel_id:
            channel = emulator.guild.channels.get(channel_id)
            who += f" in #{channel.name if channel else channel_id}"
        return who

    def _show(self, reply: Reply) -> None:
        self.last = reply
        self._expected_error = False
        if reply.modal is not None and not reply.messages:
            self.echo(render_modal(reply.modal))
        messages = reply.messages or ([reply.message] if reply.message else [])
        for message in messages:
            self.feed.show(message)

    async def _wait_quiet(self, seconds: float) -> None:
        """Wait until the bot has sent nothing for `seconds` (at most `wait_limit_s`)."""
        emulator = self.harness.emulator
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_limit_s
        while loop.time() < deadline:
            try:
                await asyncio.wait_for(emulator.activity.wait(), timeout=seconds)
            except TimeoutError:
                break
            self.feed.flush(final=False)

    async def _wait_for(self, text: str) -> None:
        """Wait until a message or edit since the last action shows `text` (as printed)."""
        emulator = self.harness.emulator
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_limit_s
        while self.feed.find(text, self._since) is None:
            remaining = deadline - loop.time()
            if remaining <= 0:
                self._fail(
                    f"no new message or edit showing {text!r} within {self.wait_limit_s:.0f} s"
                )
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(emulator.activity.wait(), timeout=min(1.0, remaining))
            self.feed.flush(final=False)
        for _ in range(10):  # let the edits that follow it land (at most 5 s)
            try:
                await asyncio.wait_for(emulator.activity.wait(), timeout=0.5)
            except TimeoutError:
                break

    # --- outcome ------------------------------------------------------------------------

    def _check_unexpected_error(self) -> None:
        last = self.last
        if last is not None and last.interaction.id in self.errored and not self._expected_error:
            self.failures.append(f"error reply: {self.errored[last.interaction.id]}")
            self._expected_error = True  # report once

    def _flush_violations(self) -> None:
        for violation in self.harness.emulator.violations:
            self._fail(f"contract violation: {violation}")
        self.harness.emulator.violations.clear()

    def _fail(self, message: str) -> None:
        self.failures.append(message)
        self.echo(f"!! {message}")

    def finish(self) -> int:
        """Exit code: 0 when everything went as expected."""
        self._check_unexpected_error()
        self._flush_violations()
        if self.failures:
            self.echo(f"\nplayground: {len(self.failures)} problem(s):")
            for failure in self.failures:
                self.echo(f"  - {failure}")
            return 1
        return 0


async def run_script(settings: Settings, script: Path, out_dir: Path) -> int:
    """Run a script file and print the transcript; exit code as `Playground.finish`."""
    try:
        steps = parse_script(script.read_text(encoding="utf-8"))
    except ScriptError as error:
        print(f"playground: {script}: {error}", file=sys.stderr)
        return 2
    playground = Playground(settings, out_dir)
    await playground.start()
    try:
        for step in steps:
            await playground.run_step(step)
    finally:
        code = playground.finish()
        await playground.stop()
    return code


async def run_interactive(settings: Settings, out_dir: Path) -> int:
    """Read actions from the terminal until `quit` or end of input."""
    with contextlib.suppress(ImportError):
        import readline  # noqa: F401 - line editing and history for input()
    playground = Playground(settings, out_dir)
    await playground.start()
    print(
        "Type a slash command (/help), or: as, channel, click, select, modal, wait, "
        "expect. 'help' explains them, 'quit' leaves; an empty line shows what the bot "
        "posted meanwhile."
    )
    try:
        while True:
            try:
                line = await asyncio.to_thread(input, "lab> ")
            except EOFError:
                break
            while opens_block(line):  # a triple-quoted value goes on until it is closed
                try:
                    line += "\n" + await asyncio.to_thread(input, "... ")
                except EOFError:
                    break
            if line.strip() in ("quit", "exit"):
                break
            if line.strip() == "help":
                from bot.playground import script as script_module

                print(script_module.__doc__)
                continue
            await playground.run_line(line)
            playground.failures.clear()
    finally:
        await playground.stop()
    return 0


def _quoted(value: str) -> str:
    """An option value as it would be typed (quoted, with escapes, when it needs them)."""
    if value and not any(c in value for c in " \"'\\\n\t"):
        return value
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + escaped.replace("\n", "\\n").replace("\t", "\\t") + '"'
