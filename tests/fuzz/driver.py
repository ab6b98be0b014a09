"""Sending fuzz payloads through the emulator and checking every answer.

For each payload the driver acts as a student (in a group, in none, in two) or an instructor
in #lab, sends the command (through the client's checks, or forged), then sometimes clicks a
button, picks in a select menu or fills the modal the bot opened. Every interaction must be
answered (the first response within Discord's 3 s, a deferred one delivered), no error may be
unexpected (`lab_command_error` with expected=False, or anything logged at ERROR), no message
may ping (`allowed_mentions` checked by the emulator on every message), and no other Discord
rule may break. Findings name the command and the payload.
"""

from __future__ import annotations

import collections
import gc
import logging
import random
import re
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.policy import UsagePolicy
from discord_emulator import ActionError, Actor, Reply
from discord_emulator.actions import wait_until_settled
from discord_emulator.world import Interaction, walk_components
from tests.fuzz.generate import SENTENCES, Payload

ACTORS = {
    "student": ("Ada", ["Group 1"]),
    "student2": ("Bea", ["Group 2"]),
    "groupless": ("Cy", []),
    "two_groups": ("Dee", ["Group 1", "Group 2"]),
    "instructor": ("Ms Rivera", ["Instructor"]),
}
REPO = str(Path(__file__).resolve().parents[2]) + "/"
ERROR_ID = re.compile(r"error id `([0-9a-f]+)`")


@dataclass
class Finding:
    """One problem: what kind, which payload, and the evidence."""

    kind: str  # "unexpected error", "unanswered", "ping", "violation", "engine"
    command: str
    payload: str
    detail: str
    payload_kind: str = ""  # "valid", "edge", "forged:type", ...

    def __str__(self) -> str:
        return f"{self.kind}: {self.payload}\n    {self.detail}"


@dataclass
class FuzzReport:
    """What a fuzz run did and found."""

    payloads: collections.Counter[str] = field(default_factory=collections.Counter)
    kinds: collections.Counter[str] = field(default_factory=collections.Counter)
    interactions: int = 0
    findings: list[Finding] = field(default_factory=list)
    engine_alive: bool | None = None
    registered: set[str] = field(default_factory=set)  # every (sub)command the bot registered
    seconds: collections.Counter[str] = field(default_factory=collections.Counter)

    def count(self, kind: str) -> int:
        return sum(1 for f in self.findings if f.kind == kind)

    def summary(self, *, examples: int = 3) -> str:
        """Figures per command and per finding, with a few examples of each distinct one."""
        lines = [f"payloads: {sum(self.payloads.values())} ({self.interactions} interactions)"]
        lines += [
            f"  /{name}: {count} ({self.seconds[name]:.0f} s)"
            for name, count in sorted(self.payloads.items())
        ]
        lines.append(
            "payload kinds: " + ", ".join(f"{k} {n}" for k, n in sorted(self.kinds.items()))
        )
        for kind in ("unexpected error", "unanswered", "ping", "violation", "engine"):
            lines.append(f"{kind}: {self.count(kind)}")
        lines.append(f"engine alive at the end: {self.engine_alive}")
        groups: dict[tuple[str, str, str, str], list[Finding]] = collections.defaultdict(list)
        for finding in self.findings:
            headline = _headline(finding.detail)
            key = (finding.kind, finding.command, finding.payload_kind, headline)
            groups[key].append(finding)
        if groups:
            lines.append("distinct findings:")
        for (kind, command, payload_kind, headline), found in sorted(groups.items()):
            lines.append(f"- {kind} in /{command} [{payload_kind}] x{len(found)}: {headline}")
            for finding in found[:examples]:
                lines.append(f"    e.g. {finding.payload}")
            detail = found[0].detail.splitlines()[1:]
            lines += [f"      {line}" for line in detail[:6]]
        return "\n".join(lines)


class ErrorLog(logging.Handler):
    """Keeps every record logged at ERROR or above while the fuzz runs."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def drain(self) -> list[logging.LogRecord]:
        records, self.records = self.records, []
        return records


def _headline(detail: str) -> str:
    """The first line of a finding, with the ids that differ each time taken out."""
    first = detail.splitlines()[0] if detail else ""
    first = re.sub(r"\b[0-9a-f]{8}\b", "<id>", first)
    return re.sub(r"\d{6,}", "<n>", first)[:160]


def _shown(path: str) -> str:
    """A source path relative to the repository or to site-packages."""
    return path.removeprefix(REPO).split("site-packages/")[-1]


def describe_record(record: logging.LogRecord) -> str:
    """The exception and where it was raised (or the log line when there is none)."""
    logged = f"logged by {record.name}: {record.getMessage()[:300]}"
    if not (record.exc_info and record.exc_info[1] is not None):
        return logged
    error = record.exc_info[1]
    while getattr(error, "original", None) is not None:  # CommandInvokeError
        error = error.original
    lines = [f"{type(error).__name__}: {str(error)[:300]}", logged]
    frames = traceback.extract_tb(error.__traceback__)
    lines += [
        f"at {f.filename.split('/work/main/')[-1]}:{f.lineno} in {f.name}" for f in frames[-3:]
    ]
    return "\n".join(lines)


class FuzzDriver:
    """Runs payloads against one running `LabHarness` and records what happened."""

    def __init__(self, harness, report: FuzzReport, *, timeout_s: float = 30.0) -> None:
        self.harness = harness
        self.emu = harness.emulator
        self.report = report
        self.timeout_s = timeout_s
        self.actors: dict[str, Actor] = {}
        self.unexpected: dict[int, str] = {}  # interaction id -> the user's error message
        self.errors = ErrorLog()
        self._seen_violations = len(self.emu.violations)
        self._current = "(between payloads)"
        self._current_kind = ""
        self._collected = 0

    def __enter__(self) -> FuzzDriver:
        root = logging.getLogger()
        self._root_level = root.level
        root.setLevel(min(root.level, logging.ERROR))  # ERROR records must reach the handler
        root.addHandler(self.errors)
        self.harness.bot.add_listener(self._on_lab_command_error, "on_lab_command_error")
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger().removeHandler(self.errors)
        logging.getLogger().setLevel(self._root_level)
        self.harness.bot.remove_listener(self._on_lab_command_error, "on_lab_command_error")

    async def _on_lab_command_error(self, interaction, message: str, expected: bool) -> None:
        if not expected:
            self.unexpected[interaction.id] = message

    def actor(self, key: str) -> Actor:
        if key not in self.actors:
            name, roles = ACTORS[key]
            self.actors[key] = self.harness.actor(name, roles=roles)
            self.actors[key].timeout_s = self.timeout_s
        return self.actors[key]

    # --- one payload ----------------------------------------------------------------------

    async def run(self, payload: Payload, *, instructor_command: bool = False) -> None:
        """Send `payload` (and any follow-up clicks), then check everything it caused."""
        self._current = payload.describe()
        self._current_kind = payload.kind
        rng = random.Random(payload.rng_seed)
        actor = self.actor(payload.actor)
        self.report.payloads[payload.command] += 1
        self.report.kinds[payload.kind.split(":")[0]] += 1
        first_message = len(self.emu.messages)
        started = time.monotonic()
        try:
            interaction = await self._send(actor, payload)
        except ActionError as error:  # the client refuses: the generator's mistake
            raise AssertionError(f"{self._current}: the client refused it: {error}") from None
        if interaction is not None and await self._settled(payload, interaction):
            await self._follow_up(actor, interaction, first_message, rng, depth=0)
        if instructor_command:
            await self._probe_limits()
        self.collect(payload.command)
        self.report.seconds[payload.command] += time.monotonic() - started

    async def _send(self, actor: Actor, payload: Payload) -> Interaction | None:
        options = dict(payload.options)
        if payload.autocomplete is not None:
            typed = options.pop(payload.autocomplete)
            self.report.interactions += 1
            try:
                await actor.autocomplete(payload.command, payload.autocomplete, typed, **options)
            except ActionError as error:
                self._find("unanswered", payload.command, f"autocomplete: {error}")
            return None
        if payload.forge is None:
            reply = await actor.slash(payload.command, wait=False, **options)
        else:
            raw, resolved = actor.prepare(payload.command, **options)
            reply = await actor.forge(
                payload.command, _altered(raw, payload.forge), resolved=resolved, wait=False
            )
        self.report.interactions += 1
        return reply.interaction

    async def _settled(self, payload: Payload, interaction: Interaction) -> bool:
        """Wait for the answer; False (and a finding) when there is none."""
        try:
            await wait_until_settled(self.emu, interaction, self.timeout_s, quiet_s=0.05)
        except ActionError as error:
            self._find("unanswered", payload.command, str(error))
            return False
        return True

    async def _follow_up(
        self, actor: Actor, interaction: Interaction, first_message: int, rng, depth: int
    ) -> None:
        """Sometimes act on what the bot just showed: fill its modal, click, pick."""
        if depth >= 2:
            return
        if interaction.modal is not None:
            if rng.random() < 0.8:
                fields = _modal_values(interaction.modal, rng)
                await self._act(
                    actor,
                    "modal",
                    actor.submit_modal(fields, modal=interaction.modal),
                    first_message,
                    rng,
                    depth,
                )
            return
        targets = []
        for message_id in list(self.emu.messages)[first_message:]:
            message = self.emu.messages[message_id]
            if message.payload.get("deleted"):
                continue
            for component in walk_components(message.components):
                if component.get("disabled") or "custom_id" not in component:
                    continue
                if component.get("type") in (2, 3):
                    targets.append((message, component))
        if not targets or rng.random() < 0.3:
            return
        message, component = rng.choice(targets)
        clicker = actor
        if not message.ephemeral and rng.random() < 0.3:
            clicker = self.actor(rng.choice(list(ACTORS)))
        if component["type"] == 2:
            action = clicker.click(component["label"], message=message)
            what = f"click {component['label']!r}"
        else:
            options = [o["value"] for o in component.get("options") or []]
            low, high = component.get("min_values", 1), component.get("max_values", 1)
            count = rng.randint(low, min(high, len(options))) if options else 0
            action = clicker.select(rng.sample(options, count), message=message)
            what = f"select in {component.get('placeholder')!r}"
        await self._act(clicker, what, action, len(self.emu.messages), rng, depth)

    async def _act(self, actor: Actor, what: str, action, first_message: int, rng, depth: int):
        self.report.interactions += 1
        where = self._current
        try:
            reply: Reply = await action
        except ActionError as error:
            self._current = f"{where} then {what}"
            self._find_current("unanswered", str(error))
            self._current = where
            return
        self._current = f"{where} then {what}"
        await self._follow_up(actor, reply.interaction, first_message, rng, depth + 1)
        self._current = where

    # --- limits, engine, findings ----------------------------------------------------------

    async def _probe_limits(self) -> None:
        """After an instructor command: two model commands under the new limits, then reset.

        This exercises channels, max_tokens, cooldowns and quotas as the instructor just set
        them, without letting them turn every later payload into a refusal.
        """
        student = self.actor("student")
        for _ in range(2):
            reply = await student.slash("generate", prompt="Hello", max_tokens=3, wait=False)
            self.report.interactions += 1
            try:
                await wait_until_settled(self.emu, reply.interaction, self.timeout_s, quiet_s=0.05)
            except ActionError as error:
                self._find_current("unanswered", f"probe /generate after it: {error}")
        await self.reset_limits()

    async def reset_limits(self) -> None:
        """Back to default server settings and fresh cooldown and quota counters."""
        bot = self.harness.bot
        await bot.db.execute("DELETE FROM guild_settings")
        bot.policy = UsagePolicy(lambda: bot.db)

    async def engine_alive(self) -> bool:
        """A plain /generate from a fresh member still gets its text."""
        self._current = "engine check: /generate prompt:Hello max_tokens:3"
        self._current_kind = "valid"
        probe = self.harness.actor("Engine Probe", roles=["Group 5"])
        reply = await probe.slash("generate", prompt="Hello", max_tokens=3, wait=False)
        self.report.interactions += 1
        try:
            await wait_until_settled(self.emu, reply.interaction, self.timeout_s, quiet_s=0.05)
        except ActionError:
            return False
        finally:
            self.collect("generate")
        return any(m.embeds for m in reply.interaction.messages())

    def collect(self, command: str, *, full: bool = False) -> None:
        """Turn what the bot logged and the emulator recorded into findings."""
        # A task that failed unobserved is reported when it is collected: young objects are
        # collected after every payload (it then names this payload), everything every 100
        # payloads (a full collection costs 0.2 s with torch loaded).
        self._collected += 1
        gc.collect() if full or self._collected % 100 == 0 else gc.collect(1)
        logged = {}
        for record in self.errors.drain():
            if record.name == "bot.errors" and record.args:
                logged[str(record.args[0])] = record
            else:
                self._find("unexpected error", command, describe_record(record))
        for message in self.unexpected.values():
            match = ERROR_ID.search(message)
            record = logged.pop(match.group(1), None) if match else None
            detail = describe_record(record) if record is not None else message
            self._find("unexpected error", command, detail)
        for record in logged.values():
            self._find("unexpected error", command, describe_record(record))
        self.unexpected.clear()
        for violation in self.emu.violations[self._seen_violations :]:
            kind = "ping" if violation.rule == "allowed_mentions" else "violation"
            self._find(kind, command, str(violation))
        self._seen_violations = len(self.emu.violations)

    def _find(self, kind: str, command: str, detail: str) -> None:
        finding = Finding(kind, command, self._current, detail, self._current_kind)
        self.report.findings.append(finding)

    def _find_current(self, kind: str, detail: str) -> None:
        command = self._current.split(" [")[0].lstrip("/") if self._current.startswith("/") else "?"
        self._find(kind, command, detail)


def _altered(raw: list[dict[str, Any]], how: tuple) -> list[dict[str, Any]]:
    """The raw options with one forged alteration (see `Generator.forgery`)."""
    options = [dict(o) for o in raw]
    verb, name = how[0], how[1]
    if verb == "drop":
        return [o for o in options if o["name"] != name]
    kind, value = how[2], how[3]
    options = [o for o in options if o["name"] != name] if verb == "set" else options
    return [*options, {"name": name, "type": kind, "value": value}]


def _modal_values(modal: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """Text for each field of a modal, inside its length limits; optional ones sometimes empty."""
    from tests.fuzz.generate import EDGE_STRINGS

    values = {}
    for field_spec in walk_components(modal.get("components") or []):
        if field_spec.get("type") != 4:
            continue
        low, high = field_spec.get("min_length", 0), field_spec.get("max_length", 4000)
        required = field_spec.get("required", True)
        if not required and rng.random() < 0.3:
            values[field_spec["custom_id"]] = ""
            continue
        text = rng.choice(SENTENCES + EDGE_STRINGS)[:high]
        if len(text) < max(low, 1 if required else 0):
            text = (text + "x" * high)[: max(low, 1)]
        values[field_spec["custom_id"]] = text
    return values
