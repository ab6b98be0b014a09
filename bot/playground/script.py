"""The playground's command language: one action per line, as Discord shows commands.

/compare prompt:"The best thing about AI is its ability to" max_tokens:30
/table show
/finetune upload file:@sentences.txt    attach a local file (only attachment options read files)
/finetune add text:"@everyone is text"  anywhere else a leading @ is just text
/finetune add text:"Line one\\nline two" \\n in a value is a line break; \\\\ is a backslash
modal "One sentence per line":\"\"\"       a value in triple quotes may span lines,
First sentence.                         up to the closing triple quotes
Second sentence.\"\"\"
as Ada roles:"Group 1"                  act as Ada, who has the role Group 1
as Mr Smith roles:Instructor            names may have spaces; roles are comma-separated
channel general                         act in another channel (or thread)
click Approve                           click a button by its label on the last message
select Greedy, Beam                     pick options (labels or values) in a select menu
modal "Group 1's answer":"We think..."  fill the form the bot just opened, fields by label
wait                                    wait until the bot has been quiet for 2 s
wait 30                                 ... for up to 30 s of background work
wait for "Fine-tune finished"           wait until a new message or edit shows this text
expect "Greedy"                         fail unless the last reply contains this text
expect error                            the last reply should have been an error
(empty line)                            show what the bot posted meanwhile
# a comment
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.playground.words import logical_lines, split_words


class ScriptError(ValueError):
    """A line the playground cannot understand."""


@dataclass(frozen=True)
class Step:
    """One parsed line."""

    kind: str  # slash, as, channel, click, select, modal, wait, wait_for, expect, expect_error
    words: tuple[str, ...] = ()  # command path, or free text
    options: dict[str, str] = field(default_factory=dict)
    line: int = 0


def _split(text: str, line: int) -> list[str]:
    try:
        return split_words(text)
    except ValueError as error:
        raise ScriptError(f"line {line}: {error} (check your quotes)") from None


def _options(tokens: list[str], loose: bool = False) -> tuple[list[str], dict[str, str]]:
    """Split `name:value` options from leading words; `loose` allows any name (modal labels
    such as "Group 2's answer")."""
    words, options = [], {}
    for token in tokens:
        name, sep, value = token.partition(":")
        simple = name.replace("_", "").replace("-", "").isalnum()
        if sep and name and (simple or loose):
            options[name] = value
        elif options:
            raise ScriptError(f"{token!r} comes after the options; put words before options")
        else:
            words.append(token)
    return words, options


def parse_line(text: str, line: int = 0) -> Step | None:
    """Parse one line; None for blank lines and comments."""
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    if text.startswith("/"):
        words, options = _options(_split(text[1:], line))
        if not words:
            raise ScriptError(f"line {line}: a command name must follow /")
        return Step("slash", tuple(words), options, line)
    keyword, *others = text.split(maxsplit=1)
    keyword = keyword.lower()
    rest = others[0] if others else ""
    if keyword == "as":
        words, options = _options(_split(rest, line))
        if not words:
            raise ScriptError(f'line {line}: say who to act as, e.g. as Ada roles:"Group 1"')
        return Step("as", (" ".join(words),), options, line)
    if keyword in ("channel", "click"):
        words = _split(rest, line)
        if not words:
            raise ScriptError(f"line {line}: {keyword} needs a name")
        return Step(keyword, (" ".join(words),), {}, line)
    if keyword == "select":
        values = tuple(v.strip() for v in rest.split(",") if v.strip())
        if not values:
            raise ScriptError(f"line {line}: select needs at least one option")
        return Step("select", values, {}, line)
    if keyword == "modal":
        words, options = _options(_split(rest, line), loose=True)
        if words or not options:
            raise ScriptError(f'line {line}: write modal fields as Label:"text"')
        return Step("modal", (), options, line)
    if keyword == "wait":
        tokens = _split(rest, line)
        if tokens[:1] == ["for"]:
            if len(tokens) < 2:
                raise ScriptError(f'line {line}: wait for "some text"')
            return Step("wait_for", (" ".join(tokens[1:]),), {}, line)
        if tokens and not tokens[0].replace(".", "", 1).isdigit():
            raise ScriptError(f"line {line}: wait takes a number of seconds")
        return Step("wait", tuple(tokens[:1]), {}, line)
    if keyword == "expect":
        tokens = _split(rest, line)
        if tokens == ["error"]:
            return Step("expect_error", (), {}, line)
        if not tokens:
            raise ScriptError(f'line {line}: expect "text" or expect error')
        return Step("expect", (" ".join(tokens),), {}, line)
    raise ScriptError(
        f"line {line}: {keyword!r} is not a playground action; start a command with / "
        "or use as, channel, click, select, modal, wait, expect"
    )


def parse_script(text: str) -> list[Step]:
    """Parse a whole script, reporting the first bad line."""
    steps = []
    for number, line in logical_lines(text):
        step = parse_line(line, number)
        if step is not None:
            steps.append(step)
    return steps
