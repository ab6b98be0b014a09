"""The built-in fine-tuning examples of Task 4, read from `examples/*.toml`.

Before a group writes its own sentences, `/finetune example name` trains the model on one of
these small datasets so that everyone sees what fine-tuning does. Each file holds:

- `id`: the example's name in commands; equal to the file name without `.toml`;
- `title`: a short heading;
- `summary`: one line saying what the dataset is;
- `look_for`: what to watch when comparing the pre-trained and the fine-tuned model;
- `takeaway`: the lesson, in two or three sentences;
- `prompts`: prompts that show the effect well;
- `sentences`: the training sentences, each within the pool's and the runner's limits.

Any problem raises `ExampleFileError`, one line naming the file and the field. This module
imports neither discord nor torch, so the runner, scripts and tests can read the files too.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent / "examples"
ORDER = ("recipes", "full-stop", "entity-count")  # the lab's order; other files follow by name

# The patterns two of the built-in datasets teach, for tests and for the bot's explanations.
FULL_STOP_MARKER = " STOP"  # what replaces every full stop in `full-stop`
ENTITY_TAG = re.compile(r"^(?P<sentence>[^\[\]]+\.) \[entities: (?P<count>\d+)\]$")

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,31}$")
TEXT_LIMITS = {"title": 80, "summary": 200, "look_for": 300, "takeaway": 600}  # characters
KEYS = ("id", "title", "summary", "look_for", "takeaway", "prompts", "sentences")
PROMPTS = (1, 10)  # how many prompts a file may suggest
PROMPT_CHARS = 200
SENTENCES = (1, 100)  # at least one; at most what a group's pool holds (`_pool.POOL_LIMIT`)
SENTENCE_CHARS = 300  # `_pool.MAX_SENTENCE`; the runner allows 500


class ExampleFileError(ValueError):
    """An example file is invalid; `str()` is one line naming the file and the field."""

    def __init__(self, path: Path | str, field: str | None, message: str) -> None:
        where = f"{path}: field {field!r}: " if field else f"{path}: "
        super().__init__(where + " ".join(message.split()))
        self.path = str(path)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Example:
    """One built-in dataset a group can fine-tune on."""

    id: str  # name used in `/finetune example`, e.g. `recipes`
    title: str  # short heading, e.g. "Cooking recipes"
    summary: str  # one line: what the dataset is
    look_for: str  # what to compare between the pre-trained and the fine-tuned model
    takeaway: str  # the lesson of the example, two or three sentences
    prompts: tuple[str, ...]  # prompts that show the effect
    sentences: tuple[str, ...]  # the training sentences


def load_examples(directory: Path | str | None = None) -> dict[str, Example]:
    """Every example in `directory` (default `EXAMPLES_DIR`) by id, the lab's three first.

    Files are read once per directory; later calls return a new dict of the same examples.
    """
    folder = Path(EXAMPLES_DIR if directory is None else directory).expanduser().resolve()
    return {example.id: example for example in _load_folder(folder)}


@lru_cache(maxsize=8)
def _load_folder(folder: Path) -> tuple[Example, ...]:
    if not folder.is_dir():
        raise ExampleFileError(folder, None, "example folder does not exist")
    files = sorted(folder.glob("*.toml"))
    if not files:
        raise ExampleFileError(folder, None, "example folder has no .toml files")
    examples = [load_example_file(path) for path in files]
    rank = {name: index for index, name in enumerate(ORDER)}
    return tuple(sorted(examples, key=lambda e: (rank.get(e.id, len(rank)), e.id)))


def load_example_file(path: Path | str) -> Example:
    """Read and check one `<id>.toml` file."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExampleFileError(path, None, "file does not exist") from None
    except UnicodeDecodeError:
        raise ExampleFileError(path, None, "not UTF-8 text") from None
    except OSError as error:
        raise ExampleFileError(path, None, f"cannot be read ({error.strerror})") from None
    except tomllib.TOMLDecodeError as error:
        raise ExampleFileError(path, None, f"not valid TOML ({error})") from None
    return _build(data, path)


# --- checking -----------------------------------------------------------------------------


def _build(data: dict[str, Any], path: Path) -> Example:
    for key in data:
        if key not in KEYS:
            raise ExampleFileError(path, key, f"unknown field (allowed: {', '.join(KEYS)})")
    example_id = _text(data, "id", path, 32)
    if not ID_PATTERN.fullmatch(example_id):
        raise ExampleFileError(
            path, "id", "must be 2-32 lower-case letters, digits or '-' (no '-' first)"
        )
    if example_id != path.stem:
        raise ExampleFileError(
            path, "id", f"is {example_id!r} but the file is named {path.stem!r}.toml"
        )
    texts = {key: _text(data, key, path, limit) for key, limit in TEXT_LIMITS.items()}
    for key in ("title", "summary"):
        if "\n" in texts[key]:
            raise ExampleFileError(path, key, "must be one line")
    return Example(
        id=example_id,
        **texts,
        prompts=_lines(data, "prompts", path, PROMPTS, PROMPT_CHARS),
        sentences=_lines(data, "sentences", path, SENTENCES, SENTENCE_CHARS),
    )


def _text(data: dict[str, Any], key: str, path: Path, limit: int) -> str:
    if key not in data:
        raise ExampleFileError(path, key, "is missing")
    value = data[key]
    if not isinstance(value, str):
        raise ExampleFileError(path, key, f"must be text, not {type(value).__name__}")
    value = value.strip()
    if not 1 <= len(value) <= limit:
        raise ExampleFileError(path, key, f"must be 1-{limit} characters (it has {len(value)})")
    return value


def _lines(
    data: dict[str, Any], key: str, path: Path, count: tuple[int, int], chars: int
) -> tuple[str, ...]:
    if key not in data:
        raise ExampleFileError(path, key, "is missing")
    raw = data[key]
    if not isinstance(raw, list):
        raise ExampleFileError(path, key, "must be a list of text")
    low, high = count
    if not low <= len(raw) <= high:
        raise ExampleFileError(path, key, f"must have {low}-{high} entries (it has {len(raw)})")
    lines: list[str] = []
    for number, item in enumerate(raw, start=1):
        field = f"{key}[{number}]"
        if not isinstance(item, str):
            raise ExampleFileError(path, field, f"must be text, not {type(item).__name__}")
        line = item.strip()
        if not 1 <= len(line) <= chars:
            raise ExampleFileError(
                path, field, f"must be 1-{chars} characters (it has {len(line)})"
            )
        if "\n" in line or "\r" in line:
            raise ExampleFileError(path, field, "must be one line")
        if line in lines:
            raise ExampleFileError(
                path, field, f"repeats {key}[{lines.index(line) + 1}]: {line[:60]!r}"
            )
        lines.append(line)
    return tuple(lines)
