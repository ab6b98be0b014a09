"""Fuzz payloads for every slash command, generated from the bot's own command tree.

`command_specs(tree)` lists each leaf (sub)command with its options (type, choices, range,
required-ness, autocomplete), so a new command is fuzzed without touching this file.
`Generator(seed)` makes `Payload`s for a spec, in three kinds:

- `valid`: ordinary values inside every limit the client enforces;
- `edge`: values the client still lets through but that stress the bot (empty and
  whitespace strings, 1,000 and 6,000 characters, emoji, CJK, zero-width and RTL marks,
  mentions, markdown, newlines, the range's ends, odd files);
- `forged:<how>`: what a hand-crafted interaction can send past the client (`choice`,
  `range`, `type`, `missing`, `unknown`, `unresolved`), sent with `Actor.forge`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import discord
from discord import app_commands

from discord_emulator import Upload

SUB_COMMAND, SUB_COMMAND_GROUP = 1, 2
STRING, INTEGER, BOOLEAN, USER, CHANNEL, ROLE, MENTIONABLE, NUMBER, ATTACHMENT = range(3, 12)
INT_LIMIT = 2**53  # Discord's integer options are safe JavaScript integers
CLIENT_MAX_STRING = 6000  # the client's cap on a string option without max_length

SENTENCES = [
    "The best thing about AI is its ability to",
    "Once upon a time",
    "The cat sat on the mat.",
    "Language models predict the next token.",
    "hello",
    "king queen man woman",
]
EDGE_STRINGS = [
    "",
    " ",
    "\t\n ",
    "a",
    "x" * 1000,
    "x" * 1001,
    "word " * 200,
    "😀" * 250,
    "😀" * 1000,
    "👩‍👩‍👧‍👦🏳️‍🌈" * 40,
    "語言模型如何運作" * 60,
    "日本語のテキスト",
    "\u200b\u200c\u200d\ufeff" * 10,
    "b\u200bad w\u200bord",
    "\u202eevil\u202c \u200fRTL\u200e",
    "مرحبا بالعالم",
    "e\u0301" * 300,
    "@everyone",
    "@here hello",
    "<@123> <@!123>",
    "<@&456>",
    "<#789> <@&456> @everyone",
    "**bold** __under__ ~~strike~~ `code` ||spoiler|| > quote",
    "```\ncode block\n```",
    "# Heading\n- item\n[link](https://example.com)",
    "line one\nline two\n\n\nline five",
    "\n" * 50,
    "=1+1",
    "@SUM(A1:A9)",
    '"quoted", comma; semicolon',
    "'; DROP TABLE groups; --",
    "../../etc/passwd",
    "%s %d {0} {name}",
    "\\u0000 \\n",
    "nul\x00byte",
    "x" * CLIENT_MAX_STRING,
]
HEAVY_STRING = "😀" * 250  # 250 characters, several GPT-2 tokens each
EDGE_FLOATS = [0.0, -0.0, 1e-9, 0.5, 1.0, 1e308]
MEMBER_NAMES = ["Ada", "Bea", "Zed 🎉", "@everyone", "<@123>"]
ROLE_NAMES = ["Group 1", "Group 2", "Group 9", "Instructor", "Team 🚀", "@everyone"]
CHANNEL_NAMES = ["lab", "general"]


def _file_edges() -> list[Upload]:
    text = "\n".join(SENTENCES) + "\n"
    return [
        Upload("sentences.txt", text.encode(), "text/plain"),
        Upload("empty.txt", b"", "text/plain"),
        Upload("crlf-bom.txt", b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode()),
        Upload("latin1.txt", "café naïve\n".encode("latin-1"), "text/plain"),
        Upload("image.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4, "image/png"),
        Upload("many.txt", ("a short sentence\n" * 5000).encode(), "text/plain"),
        Upload("one-long-line.txt", ("word " * 40_000).encode(), "text/plain"),
        Upload("mentions.txt", b"@everyone hi\n<@123> there\n<@&456>\n", "text/plain"),
        Upload("emoji.txt", ("😀" * 500 + "\n").encode(), "text/plain"),
        Upload("../../evil name.txt", b"hello world\n", "text/plain"),
    ]


def _case_ids() -> list[str]:
    content = Path(__file__).resolve().parents[2] / "cases" / "content"
    return sorted(p.stem for p in content.glob("*.toml"))


# Values that mean something to the bot for options with these names.
HINTS: dict[str, list[Any]] = {
    "case": _case_ids(),
    "group": ["Group 1", "Group 2", "Group 7"],
    "name": ["Group 1", "Group 3", "recipes", "full-stop"],
    "model": ["pre-trained", "fine-tuned", "v1", "v2"],
    "words": ["cat dog", "king queen man woman", "cat"],
    "add": ["badword", "darn, heck"],
    "remove": ["badword"],
}


@dataclass(frozen=True)
class OptionSpec:
    """One option of a command, as the bot declares it."""

    name: str
    type: int
    required: bool
    choices: tuple[Any, ...] = ()
    min_value: float | None = None  # for strings: the length
    max_value: float | None = None
    autocomplete: bool = False


@dataclass(frozen=True)
class CommandSpec:
    """A leaf (sub)command: `path` is what `Actor.slash` takes, e.g. "finetune add"."""

    path: str
    options: tuple[OptionSpec, ...]
    instructor: bool  # has default member permissions (hidden from students)

    @property
    def group(self) -> str:
        """The top-level command, e.g. "finetune"."""
        return self.path.split()[0]


def command_specs(tree: app_commands.CommandTree) -> list[CommandSpec]:
    """Every slash (sub)command in `tree`, in a stable order."""
    found: list[CommandSpec] = []

    def visit(item, inherited_permissions: bool) -> None:
        restricted = inherited_permissions or item.default_permissions is not None
        if isinstance(item, app_commands.Group):
            for child in item.commands:
                visit(child, restricted)
            return
        options = tuple(
            OptionSpec(
                name=p.display_name,
                type=p.type.value,
                required=p.required,
                choices=tuple(c.value for c in p.choices),
                min_value=p.min_value,
                max_value=p.max_value,
                autocomplete=bool(p.autocomplete),
            )
            for p in item.parameters
        )
        found.append(CommandSpec(item.qualified_name, options, restricted))

    for command in tree.get_commands(type=discord.AppCommandType.chat_input):
        visit(command, False)
    return sorted(found, key=lambda spec: spec.path)


@dataclass
class Payload:
    """One generated interaction for one command."""

    command: str
    kind: str  # "valid", "edge" or "forged:<how>"
    actor: str  # a key of `driver.ACTORS`
    options: dict[str, Any] = field(default_factory=dict)  # for Actor.slash
    forge: Any = None  # for forged kinds: how to alter the raw options (see driver)
    autocomplete: str | None = None  # an option to type into instead of running the command
    rng_seed: int = 0  # drives follow-up choices (buttons, modal text)

    def describe(self) -> str:
        """A short, readable form: long values shortened."""
        shown = {name: _short(value) for name, value in self.options.items()}
        extra = f" forge={_short(self.forge)}" if self.forge is not None else ""
        typed = f" autocomplete={self.autocomplete}" if self.autocomplete else ""
        return f"/{self.command} [{self.kind}, as {self.actor}] {shown}{extra}{typed}"


def _short(value: Any) -> Any:
    if isinstance(value, Upload):
        return f"<file {value.filename!r}, {len(value.data)} bytes>"
    if isinstance(value, str) and len(value) > 40:
        return f"{value[:20]!r}…({len(value)} chars)"
    if isinstance(value, tuple | list):
        return type(value)(_short(v) for v in value)
    if isinstance(value, dict):
        return {k: _short(v) for k, v in value.items()}
    return value


class Generator:
    """Seeded payloads: the same seed gives the same payloads."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.files = _file_edges()

    def payloads(self, spec: CommandSpec, count: int) -> list[Payload]:
        """`count` payloads for `spec`: one valid, one heavy edge (every string the emoji
        string), one forged, then a mix."""
        out = []
        for index in range(count):
            if index == 0:
                kind = "valid"
            elif index == 1:
                kind = "heavy"
            elif index == 2:
                kind = "forged"
            else:
                kind = self.rng.choices(["valid", "edge", "forged"], weights=[3, 4, 3])[0]
            out.append(self.payload(spec, kind))
        return out

    def payload(self, spec: CommandSpec, kind: str) -> Payload:
        rng = self.rng
        heavy = kind == "heavy"  # every string the same heavy edge: the most tokens per char
        kind = "edge" if heavy else kind
        payload = Payload(spec.path, kind, self._actor(spec), rng_seed=rng.randrange(2**32))
        style = "heavy" if heavy else "valid" if kind == "valid" else "edge"
        for option in spec.options:
            if option.required or rng.random() < 0.5:
                payload.options[option.name] = self.value(option, style)
        completable = [o for o in spec.options if o.autocomplete]
        if completable and kind != "forged" and rng.random() < 0.25:
            option = rng.choice(completable)
            payload.autocomplete = option.name
            payload.options[option.name] = self.value(option, "edge")
        if kind == "forged":
            payload.kind, payload.forge = self.forgery(spec, payload.options)
        return payload

    def _actor(self, spec: CommandSpec) -> str:
        if spec.instructor:
            weights = {"instructor": 75, "student": 20, "groupless": 5}
        else:
            weights = {
                "student": 45,
                "student2": 20,
                "instructor": 15,
                "groupless": 12,
                "two_groups": 8,
            }
        return self.rng.choices(list(weights), weights=list(weights.values()))[0]

    # --- values the client lets through ---------------------------------------------------

    def value(self, option: OptionSpec, style: str) -> Any:
        """A value for `option` inside the client's limits; `style`: valid, edge or heavy."""
        rng = self.rng
        if option.choices:
            return rng.choice(option.choices)
        kind = option.type
        if kind == STRING:
            low = int(option.min_value or 0)
            high = int(option.max_value or CLIENT_MAX_STRING)
            if style == "valid":
                pool = HINTS.get(option.name, []) + SENTENCES
                text = rng.choice(pool)
            elif style == "heavy":
                text = HEAVY_STRING[:high]
            else:
                text = rng.choice(EDGE_STRINGS + ["x" * low, "x" * high])
            return text if low <= len(text) <= high else "x" * max(low, min(high, 8))
        if kind == INTEGER:
            low = int(option.min_value if option.min_value is not None else -INT_LIMIT)
            high = int(option.max_value if option.max_value is not None else INT_LIMIT)
            if style == "valid":
                return rng.randint(low, min(high, low + 50))
            edges = [low, high, low + 1, high - 1, 0, 1, -1]
            return rng.choice([e for e in edges if low <= e <= high])
        if kind == NUMBER:
            low = option.min_value if option.min_value is not None else -1e6
            high = option.max_value if option.max_value is not None else 1e6
            if style == "valid":
                return min(max(float(f"{rng.uniform(low, high):.3g}"), low), high)
            edges = [low, high, low + 1e-9, high - 1e-9, *EDGE_FLOATS]
            return rng.choice([e for e in edges if low <= e <= high])
        if kind == BOOLEAN:
            return rng.choice([True, False])
        if kind in (USER, MENTIONABLE):
            return rng.choice(MEMBER_NAMES[:2] if style == "valid" else MEMBER_NAMES)
        if kind == ROLE:
            return rng.choice(ROLE_NAMES[:2] if style == "valid" else ROLE_NAMES)
        if kind == CHANNEL:
            return rng.choice(CHANNEL_NAMES)
        if kind == ATTACHMENT:
            return self.files[0] if style == "valid" else rng.choice(self.files)
        raise ValueError(f"option type {kind} is not fuzzed yet")

    # --- forgeries ------------------------------------------------------------------------

    def forgery(self, spec: CommandSpec, options: dict[str, Any]) -> tuple[str, Any]:
        """(kind, how): one alteration of the raw options that only a forged client sends."""
        rng = self.rng
        ways: list[tuple[str, Any]] = [("forged:unknown", ("add", "bogus", STRING, "surprise"))]
        for option in spec.options:
            for forged in self._forged_values(option):
                ways.append((forged[0], ("set", option.name, option.type, forged[1])))
            if option.required:
                ways.append(("forged:missing", ("drop", option.name)))
            if option.type in (USER, ROLE, CHANNEL, MENTIONABLE, ATTACHMENT):
                ways.append(("forged:unresolved", ("set", option.name, option.type, "123")))
        return rng.choice(ways)

    def _forged_values(self, option: OptionSpec) -> list[tuple[str, Any]]:
        kind = option.type
        out: list[tuple[str, Any]] = []
        if option.choices:
            sample = option.choices[0]
            if isinstance(sample, str):
                out += [("forged:choice", v) for v in ("bogus", "", sample.upper(), "all ")]
            else:
                out += [("forged:choice", max(option.choices) + 1)]
        if kind in (INTEGER, NUMBER):
            if option.min_value is not None:
                out.append(("forged:range", option.min_value - 1))
            if option.max_value is not None:
                out.append(("forged:range", option.max_value + 1))
            out += [("forged:range", INT_LIMIT * 4), ("forged:range", -INT_LIMIT * 4)]
            out += [("forged:type", v) for v in ("12", "abc", None, True)]
            if kind == INTEGER:
                out.append(("forged:type", 1.5))
        elif kind == STRING:
            if option.max_value is not None:
                out.append(("forged:range", "x" * (int(option.max_value) + 1)))
            out += [("forged:range", "x" * 10_000)]
            out += [("forged:type", v) for v in (12, None, True, 1.5)]
        elif kind == BOOLEAN:
            out += [("forged:type", v) for v in ("yes", 1, None)]
        return out
