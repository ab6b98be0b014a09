"""The built-in fine-tuning examples: they load, fit the pool and the runner, teach their pattern."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib

import pytest

from bot.exts.finetune import _examples
from bot.exts.finetune._examples import (
    ENTITY_TAG,
    EXAMPLES_DIR,
    FULL_STOP_MARKER,
    Example,
    ExampleFileError,
    load_example_file,
    load_examples,
)
from bot.exts.finetune._pool import MAX_SENTENCE, POOL_LIMIT, split_sentences
from model_runner.protocol import StartFineTune
from model_runner.protocol.limits import MAX_SENTENCE_CHARS, SENTENCES_RANGE

NAMES = ("recipes", "full-stop", "entity-count")
EXAMPLES = load_examples()


def test_the_three_examples_load_in_the_lab_order():
    assert tuple(EXAMPLES) == NAMES
    assert all(isinstance(example, Example) for example in EXAMPLES.values())
    assert {path.stem for path in EXAMPLES_DIR.glob("*.toml")} == set(NAMES)


def test_loading_is_cached_but_callers_get_their_own_dict():
    again = load_examples()
    assert again == EXAMPLES and again is not EXAMPLES
    assert load_examples(EXAMPLES_DIR) == EXAMPLES
    before = _examples._load_folder.cache_info().misses
    load_examples()
    assert _examples._load_folder.cache_info().misses == before
    with pytest.raises(AttributeError):
        EXAMPLES["recipes"].title = "changed"  # frozen


@pytest.mark.parametrize("name", NAMES)
def test_each_example_is_complete(name):
    example = EXAMPLES[name]
    assert example.id == name
    assert example.title and example.summary and "\n" not in example.summary
    assert example.look_for
    assert 2 <= len(re.findall(r"[.!?](?:\s|$)", example.takeaway)) <= 3
    assert len(example.prompts) == 5 and len(set(example.prompts)) == 5
    assert len(example.sentences) == 30  # the lab asks groups for 20-30 sentences
    assert len(set(example.sentences)) == 30


@pytest.mark.parametrize("name", NAMES)
def test_sentences_fit_the_runner_and_the_pool(name):
    sentences = list(EXAMPLES[name].sentences)
    run = StartFineTune("g1-v1", sentences)
    assert run.sentences == sentences  # the runner would train on all of them
    assert len(sentences) <= min(POOL_LIMIT, SENTENCES_RANGE[1])
    assert all(len(s) <= min(MAX_SENTENCE, MAX_SENTENCE_CHARS) for s in sentences)
    assert split_sentences("\n".join(sentences)) == sentences  # as if pasted into the pool
    assert _examples.SENTENCE_CHARS == MAX_SENTENCE and _examples.SENTENCES[1] == POOL_LIMIT


def test_full_stop_sentences_use_the_marker_and_no_full_stop():
    assert FULL_STOP_MARKER == " STOP"
    for sentence in EXAMPLES["full-stop"].sentences:
        assert "." not in sentence, sentence
        assert sentence.endswith(FULL_STOP_MARKER), sentence
        assert sentence.count(FULL_STOP_MARKER) >= 2, sentence  # several clauses per line
        assert "stop" not in sentence.replace("STOP", "").lower(), sentence
    assert all("." not in prompt for prompt in EXAMPLES["full-stop"].prompts)


def test_entity_count_lines_follow_the_tag_format():
    counts = []
    for line in EXAMPLES["entity-count"].sentences:
        match = ENTITY_TAG.fullmatch(line)
        assert match, line
        assert match["sentence"].count(".") == 1, line  # one sentence, then its tag
        counts.append(int(match["count"]))
    assert ENTITY_TAG.fullmatch("Maria flew from Lisbon to Tokyo. [entities: 2]")
    assert not ENTITY_TAG.fullmatch("Maria flew to Tokyo [entities: 2]")
    assert not ENTITY_TAG.fullmatch("Maria flew to Tokyo. [entities:2]")
    assert min(counts) <= 1 and max(counts) >= 4  # the count varies, so it must be read


@pytest.mark.parametrize(
    ("sentence", "names"),
    [
        ("Priya took the train from Manchester to Edinburgh.", 3),
        ("Carlos studied at Harvard University before joining Google in Dublin.", 4),
        ("The United Nations held a meeting in Geneva with delegates from Brazil, Kenya and", 5),
        ("Rahul phoned the bank about his card.", 1),
        ("My neighbour grows tomatoes in the back garden.", 0),
    ],
)
def test_spot_checked_counts(sentence, names):
    line = next(s for s in EXAMPLES["entity-count"].sentences if s.startswith(sentence))
    assert line.endswith(f"[entities: {names}]")


def test_the_loader_imports_neither_discord_nor_torch():
    script = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('examples', {str(_examples.__file__)!r})\n"
        "module = sys.modules['examples'] = importlib.util.module_from_spec(spec)\n"
        "spec.loader.exec_module(module)\n"
        "assert len(module.load_examples()) == 3\n"
        "print(','.join(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('discord', 'torch', 'bot', 'model_runner'))))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.strip() == ""


# --- malformed files ----------------------------------------------------------------------


def copy_recipes(folder, **changes):
    """The recipes file written into `folder` with `changes` (a value of None drops the key)."""
    data = tomllib.loads((EXAMPLES_DIR / "recipes.toml").read_text(encoding="utf-8"))
    data = {key: value for key, value in {**data, **changes}.items() if value is not None}
    path = folder / "recipes.toml"
    lines = [f"{key} = {json.dumps(value)}" for key, value in data.items()]  # TOML-compatible
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_folder_of_good_files_loads(tmp_path):
    copy_recipes(tmp_path)
    shutil.copy(EXAMPLES_DIR / "full-stop.toml", tmp_path)
    found = load_examples(tmp_path)
    assert list(found) == ["recipes", "full-stop"] and found["recipes"] == EXAMPLES["recipes"]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"title": ""}, "title", "must be 1-80 characters (it has 0)"),
        ({"title": 7}, "title", "must be text, not int"),
        ({"summary": "one\ntwo"}, "summary", "must be one line"),
        ({"takeaway": None}, "takeaway", "is missing"),
        ({"look_for_this": "x"}, "look_for_this", "unknown field"),
        ({"id": "cakes"}, "id", "is 'cakes' but the file is named 'recipes'.toml"),
        ({"prompts": "Tonight"}, "prompts", "must be a list"),
        ({"prompts": []}, "prompts", "1-10 entries (it has 0)"),
        ({"prompts": ["Tonight we", 3]}, "prompts[2]", "must be text, not int"),
        ({"sentences": None}, "sentences", "is missing"),
        ({"sentences": ["Stir.", "x" * 301]}, "sentences[2]", "1-300 characters (it has 301)"),
        ({"sentences": ["Mix it.", "Bake it.", "Mix it."]}, "sentences[3]", "repeats"),
        ({"sentences": ["  ", "Stir."]}, "sentences[1]", "1-300 characters (it has 0)"),
        ({"sentences": ["Stir.\nBake."]}, "sentences[1]", "one line"),
    ],
)
def test_a_malformed_file_names_the_file_and_the_field(tmp_path, changes, field, message):
    path = copy_recipes(tmp_path, **changes)
    with pytest.raises(ExampleFileError) as caught:
        load_examples(tmp_path)
    error = caught.value
    assert (error.path, error.field) == (str(path), field)
    assert str(error).startswith(f"{path}: field '{field}': ")
    assert message in str(error) and "\n" not in str(error)
    with pytest.raises(ExampleFileError, match=re.escape(f"field '{field}'")):
        load_example_file(path)


def test_broken_toml_and_bad_folders(tmp_path):
    (tmp_path / "recipes.toml").write_text('id = "recipes\n', encoding="utf-8")
    with pytest.raises(ExampleFileError, match=r"recipes\.toml: not valid TOML"):
        load_examples(tmp_path)
    with pytest.raises(ExampleFileError, match="example folder does not exist"):
        load_examples(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExampleFileError, match=r"no \.toml files"):
        load_examples(tmp_path / "empty")
