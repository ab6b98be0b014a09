"""Splitting a playground line into words: quotes, escapes and multi-line values.

- Words are separated by spaces; `"..."` or `'...'` keeps spaces inside one word, and quoted
  and unquoted parts next to each other make one word (`prompt:"two words"`).
- Outside single quotes, `\\n` is a line break, `\\t` a tab, and `\\\\`, `\\"`, `\\'` stand
  for themselves; any other backslash is kept as it is. Single quotes keep everything as typed.
- `\"\"\"...\"\"\"` is a value that may span lines (in a script, and at the `lab>` prompt): the
  line break right after the opening and right before the closing quotes is not part of it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

TRIPLE = '"""'
ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


def split_words(text: str) -> list[str]:
    """The words of `text`; ValueError for a quote that is never closed."""
    words: list[str] = []
    current: list[str] = []
    in_word = False
    i = 0
    while i < len(text):
        char = text[i]
        if text.startswith(TRIPLE, i):
            end = text.find(TRIPLE, i + 3)
            if end < 0:
                raise ValueError(f"no closing {TRIPLE}")
            current.append(_trim_line_breaks(text[i + 3 : end]))
            in_word, i = True, end + 3
        elif char in "\"'":
            part, i = _quoted(text, i)
            current.append(part)
            in_word = True
        elif char.isspace():
            if in_word:
                words.append("".join(current))
                current, in_word = [], False
            i += 1
        elif char == "\\" and text[i + 1 : i + 2] in ESCAPES:
            current.append(ESCAPES[text[i + 1]])
            in_word, i = True, i + 2
        else:
            current.append(char)
            in_word, i = True, i + 1
    if in_word:
        words.append("".join(current))
    return words


def _quoted(text: str, start: int) -> tuple[str, int]:
    """The text of the quoted part starting at `start`, and the index after it."""
    quote = text[start]
    part: list[str] = []
    i = start + 1
    while i < len(text):
        char = text[i]
        if char == quote:
            return "".join(part), i + 1
        if quote == '"' and char == "\\" and text[i + 1 : i + 2] in ESCAPES:
            part.append(ESCAPES[text[i + 1]])
            i += 2
            continue
        part.append(char)
        i += 1
    raise ValueError(f"no closing quotation ({quote})")


def _trim_line_breaks(value: str) -> str:
    value = re.sub(r"\A[ \t]*\n", "", value)
    return re.sub(r"\n[ \t]*\Z", "", value)


def opens_block(line: str) -> bool:
    """True when `line` opens a \"\"\" value that it does not close (more lines follow)."""
    return not line.lstrip().startswith("#") and line.count(TRIPLE) % 2 == 1


def logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """(first line number, text) of each action, a multi-line \"\"\" value joined into one."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        number, line = i + 1, lines[i]
        while opens_block(line) and i + 1 < len(lines):
            i += 1
            line += "\n" + lines[i]
        yield number, line
        i += 1
