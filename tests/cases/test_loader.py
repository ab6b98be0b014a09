"""Case files: each invalid field gives a one-line error; instructor folders; Discord forms."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cases.loader import (
    CaseFileError,
    load_case_file,
    load_cases,
    questions_from_text,
    validate_case,
)
from cases.questions import DEFAULT_QUESTIONS

GOOD = {
    "id": "ai-in-marking",
    "title": "AI that marks assignments",
    "summary": "A university trials a model that grades essays.",
    "body": "Some **Markdown** text about marking.",
    "sources": [{"title": "A report", "url": "https://example.org/report", "date": "2025"}],
}


def to_toml(data: dict) -> str:
    """Enough TOML for these tests: strings, lists of strings, an array of tables last."""
    lines, tables = [], []
    for key, value in data.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            tables += [f"\n[[{key}]]"] + [
                f"{k} = {json.dumps(v)}" for item in value for k, v in item.items()
            ]
        else:
            lines.append(f"{key} = {json.dumps(value)}")
    return "\n".join(lines + tables) + "\n"


def write_case(folder: Path, stem: str = "ai-in-marking", **changes) -> Path:
    """Write GOOD with `changes` applied (a value of None removes the key)."""
    data = {**GOOD, **changes}
    path = folder / f"{stem}.toml"
    path.write_text(to_toml({k: v for k, v in data.items() if v is not None}), encoding="utf-8")
    return path


def test_a_good_file_loads_with_the_shared_questions(tmp_path):
    case = load_case_file(write_case(tmp_path))
    assert (case.id, case.origin, case.questions) == ("ai-in-marking", "folder", DEFAULT_QUESTIONS)
    assert case.sources[0].url == "https://example.org/report"
    assert case.sources[0].label() == "A report (2025)"


def test_a_file_may_have_its_own_questions_and_no_sources(tmp_path):
    questions = ["Who decides the marks?", "Should students be told?"]
    case = load_case_file(write_case(tmp_path, sources=None, questions=questions))
    assert case.questions == tuple(questions) and case.sources == ()


def test_a_source_without_a_known_link_has_no_url(tmp_path):
    sources = [{"title": "A video", "publisher": "A channel", "date": "2024"}]
    case = load_case_file(write_case(tmp_path, sources=sources))
    assert case.sources[0].url == "" and case.sources[0].label() == "A video (A channel, 2024)"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": None}, "title", "is missing"),
        ({"title": 42}, "title", "must be text"),
        ({"title": "   "}, "title", "must be 1-200 characters"),
        ({"id": "other-case"}, "id", "file is named 'ai-in-marking'"),
        ({"id": "Bad_ID"}, "id", "lower-case letters, digits"),
        ({"summary": "s" * 301}, "summary", "must be 1-300 characters (it has 301)"),
        ({"body": "b" * 3501}, "body", "must be 1-3500 characters (it has 3501)"),
        ({"sources": [{"title": "X", "url": "ftp://example.org"}]}, "sources[1].url", "http"),
        ({"sources": [{"title": "X", "url": ""}]}, "sources[1].url", "http"),
        ({"sources": [{"title": "", "url": "https://e.org"}]}, "sources[1].title", "empty"),
        (
            {"sources": [{"title": "X", "url": "https://e.org", "pages": "1"}]},
            "sources[1].pages",
            "unknown field",
        ),
        ({"author": "Someone"}, "author", "unknown field"),
        ({"questions": ["Why is this here?"] * 11}, "questions", "1-10 questions (it has 11)"),
        ({"questions": []}, "questions", "1-10 questions (it has 0)"),
        ({"questions": ["Why?"]}, "questions[1]", "5-300 characters"),
    ],
)
def test_each_bad_field_names_the_file_and_the_field(tmp_path, changes, field, message):
    path = write_case(tmp_path, **changes)
    with pytest.raises(CaseFileError) as caught:
        load_case_file(path)
    error = caught.value
    assert (error.path, error.field) == (str(path), field)
    assert str(error).startswith(f"{path}: field '{field}': ")
    assert message in str(error) and "\n" not in str(error)


def test_broken_toml_names_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text('id = "broken"\ntitle = "no closing quote\n', encoding="utf-8")
    with pytest.raises(CaseFileError) as caught:
        load_case_file(path)
    assert caught.value.path == str(path) and caught.value.field is None
    assert str(caught.value).startswith(f"{path}: not valid TOML")
    assert "\n" not in str(caught.value)


def test_a_folder_case_replaces_the_builtin_with_its_id(tmp_path):
    write_case(tmp_path, "environmental-impact", id="environmental-impact", title="Our version")
    write_case(tmp_path, "ai-in-marking")
    found = load_cases(tmp_path)
    ids = [case.id for case in found]
    assert ids.count("environmental-impact") == 1 and ids[-1] == "ai-in-marking"
    replaced = found[ids.index("environmental-impact")]
    assert (replaced.title, replaced.origin) == ("Our version", "folder")
    assert {case.origin for case in found if case.id != "environmental-impact"} == {
        "builtin",
        "folder",
    }


def test_folder_only_and_a_bad_folder_file_stops_the_load(tmp_path):
    write_case(tmp_path)
    assert [case.id for case in load_cases(tmp_path, include_builtin=False)] == ["ai-in-marking"]
    write_case(tmp_path, "zz-broken", id="zz-broken", body="")
    with pytest.raises(CaseFileError, match=r"zz-broken\.toml: field 'body'"):
        load_cases(tmp_path)
    with pytest.raises(CaseFileError, match="case folder does not exist"):
        load_cases(tmp_path / "missing")


def test_a_case_typed_into_discord_is_checked_the_same_way():
    form = {k: v for k, v in GOOD.items() if k != "sources"}
    case = validate_case({**form, "questions": "1. Who marks the marker?\n\n- Is it fair?  "})
    assert case.origin == "server" and case.sources == ()
    assert case.questions == ("Who marks the marker?", "Is it fair?")
    assert validate_case({**form, "questions": "  "}).questions == DEFAULT_QUESTIONS
    with pytest.raises(CaseFileError) as caught:
        validate_case({**form, "title": ""})
    assert str(caught.value) == "(new case): field 'title': must be 1-200 characters (it has 0)"


def test_questions_from_text_drops_markers_and_blank_lines():
    assert questions_from_text("* one thing?\n2) another\n\u2022 third\n\n") == [
        "one thing?",
        "another",
        "third",
    ]
