"""A page of the lab guide as an embed, within Discord's limits whatever the questions."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord

from bot.exts.cases._catalogue import available
from bot.exts.guide._pages import TASKS, TaskPage
from bot.formatting import clip
from cases.questions import DEFAULT_QUESTIONS

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

COLOUR = discord.Colour.from_rgb(87, 242, 135)
DESCRIPTION_LIMIT = 4096
MODEL = "{model}"


def questions_block(questions: tuple[str, ...], room: int) -> str:
    """The discussion questions, numbered, clipped to `room` characters."""
    listed = "\n".join(f"**{n}.** {q}" for n, q in enumerate(questions, start=1))
    return clip(listed, room)[0]


def discussion_text(task: TaskPage, questions: tuple[str, ...]) -> str:
    """Where the task's discussion is: its questions, or which page holds them."""
    if task.number == 2:
        return "Tasks 2 and 3 share one discussion: its questions are on the next page."
    if task.discussion:
        return (
            "Your instructor posts these with an Answer button per question and a thread "
            f"for the discussion; `/case show case:{task.discussion}` shows them any time."
        )
    return (
        "Most case studies share these questions (`/case show case:…` gives each case's "
        "own); answer them with the buttons under your instructor's post of your case."
    )


def guide_embed(task: TaskPage, model: str, questions: tuple[str, ...]) -> discord.Embed:
    """One task: its goal, what to do with which commands, the questions, the instructor's
    part; `{model}` names `model`."""
    steps = "\n".join(f"{n}. {step}" for n, step in enumerate(task.steps, start=1))
    head = f"{task.goal}\n\n**What to do**\n{steps}".replace(MODEL, model)
    description = head
    if questions:
        heading = "\n\n**Discuss as a group**\n"
        room = DESCRIPTION_LIMIT - len(head) - len(heading)
        description += heading + questions_block(questions, room)
    embed = discord.Embed(
        title=f"Lab guide · Task {task.number} of {len(TASKS)}: {task.title}",
        description=description,
        colour=COLOUR,
    )
    embed.add_field(name="Discussion", value=discussion_text(task, questions), inline=False)
    embed.add_field(
        name="For the instructor", value=task.instructor.replace(MODEL, model), inline=False
    )
    embed.set_footer(
        text=f"Task {task.number} of {len(TASKS)} · the class runs {model} · "
        "/guide task:… opens any task"
    )
    return embed


async def task_page(bot: LabBot, guild_id: int | None, number: int) -> discord.Embed:
    """Task `number`'s page, with the model the class runs and the questions this server's
    cases hold (an instructor's own version of a lab task's questions included)."""
    task = TASKS[number - 1]
    model = await bot.model_name()
    if task.discussion:
        case = (await available(bot, guild_id)).get(task.discussion)
        questions = case.questions if case is not None else ()
    elif task.number == len(TASKS):
        questions = DEFAULT_QUESTIONS
    else:
        questions = ()
    return guide_embed(task, model, questions)
