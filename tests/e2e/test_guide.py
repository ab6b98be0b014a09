"""/guide through the emulator: the lab's five tasks in order, each with its commands and its
discussion questions, paged with Previous and Next; every command it names is a real one."""

from __future__ import annotations

import re

from discord import app_commands

from bot.storage import cases as case_store
from cases.loader import load_cases
from cases.questions import DEFAULT_QUESTIONS
from tests.e2e.conftest import running_lab

MODEL = "the random-weight test model tiny"
COMMANDS = {  # what each task's page must send a group to
    1: {"tokens", "embedding", "attention", "nexttoken", "loss", "trainstep"},
    2: {"about", "generate"},
    3: {"compare", "table show", "table export", "generate", "explain", "sampler", "beamtree"},
    4: {
        "finetune example",
        "compare",
        "finetune add",
        "finetune paste",
        "finetune upload",
        "finetune pool",
        "finetune start",
        "finetune models",
        "finetune download",
        "table show",
    },
    5: {"case list", "case show", "case choose", "case answers"},
}
QUESTIONS = {1: "lab-task-1-pretraining", 3: "lab-task-2-3-generation", 4: "lab-task-4-fine-tuning"}


def page_text(message) -> str:
    return message.text()


def named_commands(text: str) -> list[tuple[str, list[str]]]:
    """Each `/command sub option:value` in backticks: its name and its options' names."""
    found = []
    for span in re.findall(r"`(/[^`]+)`", text):
        tokens = span[1:].split()
        words = []
        for token in tokens:
            if ":" in token:
                break
            words.append(token)
        options = [t.split(":", 1)[0] for t in tokens if ":" in t]
        found.append((" ".join(words), options))
    return found


def tree_commands(bot) -> dict[str, app_commands.Command]:
    """Every runnable command of the bot, by its qualified name."""
    leaves: dict[str, app_commands.Command] = {}
    for top in bot.tree.get_commands():
        if isinstance(top, app_commands.Group):
            leaves.update({c.qualified_name: c for c in top.walk_commands()})
        elif isinstance(top, app_commands.Command):
            leaves[top.qualified_name] = top
    return leaves


async def all_pages(lab, actor) -> dict[int, str]:
    return {n: page_text((await actor.slash("guide", task=n)).message) for n in range(1, 6)}


async def test_every_task_appears_in_order_with_its_commands_and_questions(lab):
    pages = await all_pages(lab, lab.actor("Ada", roles=["Group 1"]))
    tasks = {case.id: case for case in load_cases(kind="lab-task")}
    for number, text in pages.items():
        assert f"Lab guide · Task {number} of 5" in text
        named = {name for name, _ in named_commands(text)}
        assert COMMANDS[number] <= named, (number, COMMANDS[number] - named)
        assert MODEL in text and "{model}" not in text
        if number in QUESTIONS:
            for question in tasks[QUESTIONS[number]].questions:
                assert question.replace("{model}", MODEL) in text
    assert all(question in pages[5] for question in DEFAULT_QUESTIONS)
    assert "next page" in pages[2]  # Task 2's discussion is Task 3's


async def test_every_command_the_guide_names_exists_with_its_options(lab):
    pages = await all_pages(lab, lab.actor("Ada"))
    commands = tree_commands(lab.bot)
    tops = {c.name for c in lab.bot.tree.get_commands()}
    named = 0
    for number, text in pages.items():
        for name, options in named_commands(text):
            assert name in commands, f"task {number} names /{name}, which the bot does not have"
            parameters = {p.name for p in commands[name].parameters}
            assert set(options) <= parameters, (number, name, set(options) - parameters)
            named += 1
        for top in re.findall(r"(?<![\w`])/([a-z]+)", text):  # mentions outside backticks too
            assert top in tops, f"task {number} names /{top}, which the bot does not have"
    assert named > 40


async def test_pages_turn_in_place_with_previous_and_next(lab):
    ada = lab.actor("Ada", roles=["Group 1"])
    first = await ada.slash("guide")
    assert first.ephemeral and "Task 1 of 5: Pre-training" in first.text
    message = first.message
    assert message.find_component(label="Previous: Task 0") is None
    assert message.find_component(label="Previous: Task 1") is None
    for number in range(2, 6):
        turned = await ada.click(f"Next: Task {number}", message=message)
        assert turned.message.id == message.id  # the same private message, edited
        assert f"Task {number} of 5" in turned.message.embeds[0]["title"]
    assert message.find_component(label="Next: Task 6") is None  # the last page
    back = await ada.click("Previous: Task 4", message=message)
    assert "Task 4 of 5: Fine-tuning" in back.message.embeds[0]["title"]


async def test_a_shared_guide_opens_the_next_page_privately(lab):
    teacher = lab.actor("Ms Rivera", roles=["Instructor"])
    posted = await teacher.slash("guide", task=3, share=True)
    assert not posted.ephemeral and "Task 3 of 5" in posted.text
    grace = await lab.actor("Grace").click("Next: Task 4", message=posted.message)
    assert grace.ephemeral and "Task 4 of 5" in grace.text
    assert "Task 3 of 5" in posted.message.embeds[0]["title"]  # the class's copy stays


async def test_the_buttons_work_after_a_restart(tmp_path):
    async with running_lab(tmp_path) as lab:
        ada = lab.actor("Ada")
        first = await ada.slash("guide", task=2)
        await lab.restart_bot()
        turned = await ada.click("Next: Task 3", message=first.message)
        assert "Task 3 of 5" in turned.message.embeds[0]["title"]


async def test_an_instructors_own_questions_show_and_fit(lab):
    # A server's own version of a lab task, with the most and longest questions a case may
    # have: the page shows them and stays within Discord's limits (the emulator checks).
    long = ["Why " + "really " * 40 + f"number {n}?" for n in range(10)]
    await case_store.save_server_case(
        lab.bot.db,
        lab.emulator.guild.id,
        "lab-task-1-pretraining",
        {
            "title": "Our task 1",
            "summary": "Ours.",
            "body": "Ours.",
            "questions": long,
            "kind": "lab-task",
        },
        1,
    )
    page = await lab.actor("Ada").slash("guide", task=1)
    description = page.message.embeds[0]["description"]
    assert long[0] in description and len(description) <= 4096
