"""Read case studies from TOML files and check every field before a group ever sees them.

Three places supply cases:
- the package's own `content/` folder (the lab's four ethics cases and the discussion
  questions of lab tasks 1 to 4, origin `builtin`);
- an instructor's folder of `<id>.toml` files (origin `folder`); a file whose id matches a
  built-in case replaces it;
- cases instructors type into a Discord form, checked with `validate_case` (origin `server`).

A file has the keys `id` (equal to the file name without `.toml`), `title`, `summary`, `body`,
optional `[[sources]]` tables (`title`, and optionally `url`, `publisher`, `date`: a source
without a known link to the work itself has no `url`), an optional `questions`
list (without one the case gets `DEFAULT_QUESTIONS`) and an optional `kind`: `ethics` (the
default) or `lab-task` for a lab task's discussion questions. `{model}` in the title, summary,
text or questions is shown as the name of the model the class runs (the bot fills it in).
Any problem raises `CaseFileError`, whose message is one line naming the file and the field.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

from cases.model import KINDS, CaseStudy, Source
from cases.questions import DEFAULT_QUESTIONS

NEW_CASE = "(new case)"  # the "path" in errors about a case typed into Discord
BUILTIN_FOLDER = "cases/content"  # how built-in files are named in errors
LAB_ORDER = (  # built-ins come first, in the order the lab page presents them
    "environmental-impact",
    "data-labelling-labour",
    "copyright-training-data",
    "fine-tuning-toxicity",
)
LAB_TASK_ORDER = (  # the lab tasks' discussions, in task order; they come before the ethics
    "lab-task-1-pretraining",
    "lab-task-2-3-generation",
    "lab-task-4-fine-tuning",
)

ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{1,48}$")
LIMITS = {"title": 200, "summary": 300, "body": 3500}  # characters, after trimming spaces
MAX_QUESTIONS = 10
QUESTION_CHARS = (5, 300)
CASE_KEYS = ("id", "title", "summary", "body", "sources", "questions", "kind")
SOURCE_KEYS = ("title", "url", "publisher", "date")
URL_PATTERN = re.compile(r"^https?://[^/\s]+\S*$")


class CaseFileError(Exception):
    """A case file or form is invalid; `str()` is one line naming the file and the field."""

    def __init__(self, path: str, field: str | None, message: str) -> None:
        where = f"{path}: field {field!r}: " if field else f"{path}: "
        super().__init__(where + " ".join(message.split()))
        self.path = path
        self.field = field
        self.message = message


def load_case_file(path: Path | str, *, origin: str = "folder") -> CaseStudy:
    """Read and check one `<id>.toml` file."""
    path = Path(path)
    return _load(path, str(path), origin)


def load_cases(
    folder: Path | str | None = None,
    *,
    include_builtin: bool = True,
    kind: str | None = "ethics",
) -> list[CaseStudy]:
    """Built-in cases, then the folder's; a folder case replaces a built-in with its id.

    Only cases of `kind` are returned: `ethics` (the default), `lab-task`, or None for all.
    Every file is still read and checked, so a broken file fails the load whatever `kind`.
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {', '.join(KINDS)} or None, not {kind!r}")
    by_id: dict[str, CaseStudy] = {}
    if include_builtin:
        for entry in _builtin_files():
            case = _load(entry, f"{BUILTIN_FOLDER}/{entry.name}", "builtin")
            by_id[case.id] = case
    if folder is not None:
        folder = Path(folder).expanduser()
        if not folder.is_dir():
            raise CaseFileError(str(folder), None, "case folder does not exist")
        for path in sorted(folder.glob("*.toml")):
            case = _load(path, str(path), "folder")
            by_id[case.id] = case
    rank = {case_id: index for index, case_id in enumerate(LAB_TASK_ORDER + LAB_ORDER)}
    found = (case for case in by_id.values() if kind is None or case.kind == kind)
    return sorted(found, key=lambda case: (rank.get(case.id, len(rank)), case.id))


def validate_case(
    fields: Mapping[str, Any], *, origin: str = "server", path: str = NEW_CASE
) -> CaseStudy:
    """Check one case's fields (an instructor's form or stored copy) and build the case.

    `questions` may be a list or the text of a form box, one question per line; left out or
    blank, the case gets the shared questions.
    """
    fields = dict(fields)
    questions = fields.get("questions", [])
    if questions is None or isinstance(questions, str):
        fields.pop("questions")
        if questions and questions.strip():
            fields["questions"] = questions_from_text(questions)
    return _build(fields, path, stem=None, origin=origin)


def questions_from_text(text: str) -> list[str]:
    """Split a form box into questions: one per non-blank line, list markers removed."""
    lines = (re.sub(r"^\s*(?:[-*\u2022]|\d+[.)])\s*", "", line) for line in text.splitlines())
    return [line.strip() for line in lines if line.strip()]


# --- reading ------------------------------------------------------------------------------


def _builtin_files() -> list[Traversable]:
    content = resources.files("cases") / "content"
    return sorted(
        (entry for entry in content.iterdir() if entry.name.endswith(".toml")),
        key=lambda entry: entry.name,
    )


def _load(file: Path | Traversable, shown: str, origin: str) -> CaseStudy:
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CaseFileError(shown, None, "file does not exist") from None
    except UnicodeDecodeError:
        raise CaseFileError(shown, None, "not UTF-8 text") from None
    except OSError as error:
        raise CaseFileError(shown, None, f"cannot be read ({error.strerror})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CaseFileError(shown, None, f"not valid TOML ({error})") from None
    return _build(data, shown, stem=file.name.removesuffix(".toml"), origin=origin)


# --- checking -----------------------------------------------------------------------------


def _build(data: Mapping[str, Any], path: str, *, stem: str | None, origin: str) -> CaseStudy:
    _known(data, CASE_KEYS, path)
    case_id = _text(data, "id", path)
    if not ID_PATTERN.fullmatch(case_id):
        raise CaseFileError(
            path, "id", "must be 2-49 lower-case letters, digits or '-' (no '-' first)"
        )
    if stem is not None and case_id != stem:
        raise CaseFileError(path, "id", f"is {case_id!r} but the file is named {stem!r}.toml")
    title, summary, body = (
        _sized(_text(data, key, path), 1, LIMITS[key], path, key)
        for key in ("title", "summary", "body")
    )
    return CaseStudy(
        id=case_id,
        title=title,
        summary=summary,
        body=body,
        sources=_sources(data.get("sources", []), path),
        questions=_questions(data["questions"], path) if "questions" in data else DEFAULT_QUESTIONS,
        origin=origin,
        kind=_kind(data, path),
    )


def _known(data: Mapping[str, Any], allowed: tuple[str, ...], path: str, prefix: str = "") -> None:
    for key in data:
        if key not in allowed:
            raise CaseFileError(
                path, prefix + key, f"unknown field (allowed: {', '.join(allowed)})"
            )


def _text(data: Mapping[str, Any], key: str, path: str, field: str | None = None) -> str:
    field = field or key
    if key not in data:
        raise CaseFileError(path, field, "is missing")
    if not isinstance(data[key], str):
        raise CaseFileError(path, field, f"must be text, not {type(data[key]).__name__}")
    return data[key].strip()


def _sized(value: str, low: int, high: int, path: str, field: str) -> str:
    if not low <= len(value) <= high:
        raise CaseFileError(path, field, f"must be {low}-{high} characters (it has {len(value)})")
    return value


def _kind(data: Mapping[str, Any], path: str) -> str:
    if "kind" not in data:
        return KINDS[0]
    kind = _text(data, "kind", path)
    if kind not in KINDS:
        allowed = " or ".join(repr(k) for k in KINDS)
        raise CaseFileError(path, "kind", f"must be {allowed} (it is {kind!r})")
    return kind


def _sources(raw: Any, path: str) -> tuple[Source, ...]:
    if not isinstance(raw, list):
        raise CaseFileError(path, "sources", "must be a list of [[sources]] tables")
    sources = []
    for number, item in enumerate(raw, start=1):
        field = f"sources[{number}]"
        if not isinstance(item, dict):
            raise CaseFileError(path, field, "must be a table with a title (and a url)")
        _known(item, SOURCE_KEYS, path, f"{field}.")
        texts = {key: _text(item, key, path, f"{field}.{key}") for key in item}
        if not _text(item, "title", path, f"{field}.title"):
            raise CaseFileError(path, f"{field}.title", "must not be empty")
        if "url" in item and not URL_PATTERN.fullmatch(_text(item, "url", path, f"{field}.url")):
            raise CaseFileError(path, f"{field}.url", f"must be an http(s):// URL: {item['url']!r}")
        sources.append(Source(**texts))
    return tuple(sources)


def _questions(raw: Any, path: str) -> tuple[str, ...]:
    if not isinstance(raw, list):
        raise CaseFileError(path, "questions", "must be a list of questions")
    if not 1 <= len(raw) <= MAX_QUESTIONS:
        raise CaseFileError(
            path,
            "questions",
            f"must have 1-{MAX_QUESTIONS} questions (it has {len(raw)}); "
            "leave it out to use the shared questions",
        )
    questions = []
    for number, item in enumerate(raw, start=1):
        field = f"questions[{number}]"
        questions.append(_sized(_text({"q": item}, "q", path, field), *QUESTION_CHARS, path, field))
    return tuple(questions)
