"""The lab tasks' discussion questions: loaded as cases of kind `lab-task`, kept apart from ethics."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from cases.loader import (
    LAB_ORDER,
    LAB_TASK_ORDER,
    CaseFileError,
    load_case_file,
    load_cases,
    validate_case,
)
from cases.model import KINDS
from cases.questions import DEFAULT_QUESTIONS

CONTENT = Path(str(resources.files("cases") / "content"))
LAB_TASK_IDS = (
    "lab-task-1-pretraining",
    "lab-task-2-3-generation",
    "lab-task-4-fine-tuning",
)
COMMANDS = {  # what each task's post reminds groups they used
    "lab-task-1-pretraining": (
        "/tokens",
        "/embedding",
        "/attention",
        "/nexttoken",
        "/loss",
        "/trainstep",
    ),
    "lab-task-2-3-generation": ("/compare", "/generate", "/explain", "/sampler", "/beamtree"),
    "lab-task-4-fine-tuning": (
        "/finetune example",
        "/finetune add",
        "/finetune paste",
        "/finetune upload",
        "/finetune start",
        "/compare",
        "models: Pre-trained, in-context and fine-tuned",
    ),
}
FORM = {
    "id": "ai-in-marking",
    "title": "AI that marks assignments",
    "summary": "A university trials a model that grades essays.",
    "body": "Some text.",
}


def test_kinds():
    assert KINDS == ("ethics", "lab-task")


def test_lab_tasks_load_in_task_order_and_apart_from_the_ethics_cases():
    tasks = load_cases(kind="lab-task")
    assert tuple(case.id for case in tasks) == LAB_TASK_IDS == LAB_TASK_ORDER
    assert {(case.kind, case.origin) for case in tasks} == {("lab-task", "builtin")}
    ethics = load_cases()  # the default kind keeps existing callers on the four cases
    assert tuple(case.id for case in ethics) == LAB_ORDER
    assert {case.kind for case in ethics} == {"ethics"}
    assert load_cases(kind="ethics") == ethics
    everything = load_cases(kind=None)
    assert tuple(case.id for case in everything) == LAB_TASK_ORDER + LAB_ORDER


@pytest.mark.parametrize("case_id", LAB_TASK_IDS)
def test_each_lab_task_file_fits_discord_and_names_its_commands(case_id):
    case = load_case_file(CONTENT / f"{case_id}.toml", origin="builtin")
    assert case == next(c for c in load_cases(kind="lab-task") if c.id == case_id)
    assert case.kind == "lab-task"
    assert case.title.startswith("Lab task")
    assert 1 <= len(case.title) <= 200 and 1 <= len(case.summary) <= 300
    assert 1 <= len(case.body) <= 3500
    assert case.questions != DEFAULT_QUESTIONS and 3 <= len(case.questions) <= 5
    assert all(5 <= len(q) <= 300 for q in case.questions)
    assert sum(len(q) + 5 for q in case.questions) <= 1024  # one embed field lists them
    for command in COMMANDS[case_id]:
        assert f"`{command}" in case.body, command
    for source in case.sources:
        assert source.url.startswith("https://") and source.publisher


def test_fine_tuning_task_asks_about_in_context_examples_and_cites_lora():
    case = next(c for c in load_cases(kind="lab-task") if c.id == "lab-task-4-fine-tuning")
    assert any("in-context" in q for q in case.questions)
    assert any("2106.09685" in source.url for source in case.sources)


@pytest.mark.parametrize("kind", ["quiz", "Lab-Task", ""])
def test_a_bad_kind_is_rejected_naming_the_field(tmp_path, kind):
    path = tmp_path / "ai-in-marking.toml"
    lines = [f"{key} = {value!r}" for key, value in {**FORM, "kind": kind}.items()]
    path.write_text("\n".join(lines).replace("'", '"') + "\n", encoding="utf-8")
    with pytest.raises(CaseFileError) as caught:
        load_case_file(path)
    assert (caught.value.path, caught.value.field) == (str(path), "kind")
    assert str(caught.value).startswith(f"{path}: field 'kind': must be 'ethics' or 'lab-task'")
    assert "\n" not in str(caught.value)


def test_kind_must_be_text_and_defaults_to_ethics():
    with pytest.raises(CaseFileError, match=r"field 'kind': must be text, not int"):
        validate_case({**FORM, "kind": 3})
    assert validate_case(FORM).kind == "ethics"
    assert validate_case({**FORM, "kind": " lab-task "}).kind == "lab-task"


def test_a_folder_lab_task_is_listed_with_the_lab_tasks_only(tmp_path):
    lines = [f"{key} = {value!r}" for key, value in {**FORM, "kind": "lab-task"}.items()]
    (tmp_path / "ai-in-marking.toml").write_text(
        "\n".join(lines).replace("'", '"') + "\n", encoding="utf-8"
    )
    assert "ai-in-marking" not in [case.id for case in load_cases(tmp_path)]
    tasks = load_cases(tmp_path, kind="lab-task")
    assert [case.id for case in tasks] == [*LAB_TASK_IDS, "ai-in-marking"]
    assert tasks[-1].origin == "folder"


def test_an_unknown_kind_filter_is_a_programming_error():
    with pytest.raises(ValueError, match="kind must be one of"):
        load_cases(kind="quiz")
