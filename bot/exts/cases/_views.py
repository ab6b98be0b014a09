"""Buttons and modals of the case studies: answering a question, creating a case."""

from __future__ import annotations

import re
import secrets
from typing import TYPE_CHECKING

import discord

from bot.context import lab_bot, member, server_id
from bot.errors import LabError, LabModal, NotInstructor, report_error
from bot.formatting import clip, safe
from bot.groups import group_of, require_group
from bot.permissions import is_instructor, only_opener
from bot.storage import answers
from bot.storage import cases as case_store
from bot.storage.groups import LabGroup
from cases.model import CaseStudy

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

MAX_ANSWER = 4000  # Discord's limit for a text input
ANSWER_TIMEOUT = 30 * 60  # seconds a group may spend writing one answer
FORM_TIMEOUT = 30 * 60  # an instructor's new case


class AnswerModal(LabModal):
    """The group's answer to one question, pre-filled with its current version.

    Answers belong to the group, and any member may write or edit them, each with their own
    form. A form is accepted only from the member who opened it and only while that member
    is still in the group it was opened for: someone who has left (or moved to another group)
    cannot write that group's answers. A form stops waiting after `ANSWER_TIMEOUT` seconds.
    """

    def __init__(
        self,
        bot: LabBot,
        case: CaseStudy,
        question: int,
        group: LabGroup,
        current: str,
        opener_id: int,
    ) -> None:
        title, _ = clip(f"Q{question}: {case.title}", 45)
        # discord.py keys open modals by custom_id alone: a unique id per form keeps two
        # members answering the same question at once from sharing (and racing on) one.
        super().__init__(
            title=title, custom_id=f"case:modal:{secrets.token_hex(8)}", timeout=ANSWER_TIMEOUT
        )
        self.bot, self.case, self.question, self.group = bot, case, question, group
        self.opener_id = opener_id
        self.add_item(discord.ui.TextDisplay(f"**{safe(case.questions[question - 1])}**"))
        self.answer: discord.ui.TextInput[AnswerModal] = discord.ui.TextInput(
            style=discord.TextStyle.paragraph,
            max_length=MAX_ANSWER,
            default=current or None,
            placeholder="Write your group's answer. Anyone in your group can edit it later.",
        )
        self.add_item(discord.ui.Label(text=f"{group.name}'s answer"[:45], component=self.answer))

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await only_opener(interaction, self.opener_id):
            return False
        current = await group_of(self.bot.db, member(interaction))
        if current is None or current.id != self.group.id:
            raise LabError(f"You are no longer in {self.group.name}, so this answer was not saved.")
        return True

    async def on_submit(self, interaction: discord.Interaction) -> None:
        state = await case_store.state(self.bot.db, server_id(interaction), self.case.id)
        if state.closed:
            raise LabError(
                "This case was closed while you were writing; copy your text and "
                "ask your instructor to reopen it."
            )
        text = self.answer.value.strip()
        if not text:
            raise LabError("The answer is empty: nothing was saved.")
        await interaction.response.defer(ephemeral=True, thinking=True)  # the write may be slow
        number = await answers.save(
            self.bot.db,
            guild_id=server_id(interaction),
            case_id=self.case.id,
            group_id=self.group.id,
            question=self.question,
            author_id=interaction.user.id,
            author_name=interaction.user.display_name,
            text=text,
        )  # committed before we say so
        await interaction.edit_original_response(
            content=f"Saved {safe(self.group.name)}'s answer to question {self.question} "
            f"(version {number})."
        )


class AnswerButton(
    discord.ui.DynamicItem[discord.ui.Button],
    template=r"case:answer:(?P<case>[a-z0-9-]+):(?P<question>\d+)",
):
    """'Answer question N' under a posted case; works across bot restarts."""

    def __init__(self, case_id: str, question: int) -> None:
        super().__init__(
            discord.ui.Button(
                label=f"Answer question {question}",
                style=discord.ButtonStyle.primary,
                custom_id=f"case:answer:{case_id}:{question}",
            )
        )
        self.case_id, self.question = case_id, question

    @classmethod
    async def from_custom_id(cls, interaction, item, match: re.Match[str]):
        return cls(match["case"], int(match["question"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        try:
            await self._open(interaction)
        except Exception as error:  # noqa: BLE001 - dynamic items have no view error hook
            await report_error(interaction, error)

    async def _open(self, interaction: discord.Interaction) -> None:
        from bot.exts.cases._catalogue import find

        bot, guild_id = lab_bot(interaction), server_id(interaction)
        case = await find(bot, guild_id, self.case_id)
        if (await case_store.state(bot.db, guild_id, case.id)).closed:
            raise LabError("Answering this case is closed.")
        if not 1 <= self.question <= len(case.questions):
            raise LabError("This question no longer exists.")
        group = await require_group(bot.db, member(interaction))
        current = await answers.latest(bot.db, guild_id, case.id, group.id)
        text = next((r.text for r in current if r.question == self.question), "")
        modal = AnswerModal(bot, case, self.question, group, text, interaction.user.id)
        await interaction.response.send_modal(modal)


def answer_view(case: CaseStudy) -> discord.ui.View:
    """One button per question. The view never times out: the case stays posted for the whole
    lab, and its buttons work across restarts; each click checks the clicker's group."""
    view = discord.ui.View(timeout=None)
    for number in range(1, len(case.questions) + 1):
        view.add_item(AnswerButton(case.id, number))
    return view


class CreateCaseModal(LabModal, title="New case study"):
    """An instructor's own case for this server: accepted only from the instructor who opened
    it (still an instructor), for `FORM_TIMEOUT` seconds."""

    case_id: discord.ui.TextInput[CreateCaseModal] = discord.ui.TextInput(
        label="Short id (letters, digits, -)", max_length=49, placeholder="deepfakes-in-elections"
    )
    case_title: discord.ui.TextInput[CreateCaseModal] = discord.ui.TextInput(
        label="Title", max_length=200
    )
    summary: discord.ui.TextInput[CreateCaseModal] = discord.ui.TextInput(
        label="Summary (one or two sentences)", max_length=300, style=discord.TextStyle.paragraph
    )
    body: discord.ui.TextInput[CreateCaseModal] = discord.ui.TextInput(
        label="The case (Markdown, links welcome)",
        max_length=3500,
        style=discord.TextStyle.paragraph,
    )
    questions: discord.ui.TextInput[CreateCaseModal] = discord.ui.TextInput(
        label="Questions, one per line (empty: the lab's)",
        required=False,
        max_length=3000,
        style=discord.TextStyle.paragraph,
    )

    def __init__(self, bot: LabBot, opener_id: int) -> None:
        super().__init__(timeout=FORM_TIMEOUT)
        self.bot, self.opener_id = bot, opener_id

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if not await only_opener(interaction, self.opener_id):
            return False
        if not is_instructor(interaction):
            raise NotInstructor()
        return True

    async def on_submit(self, interaction: discord.Interaction) -> None:
        from cases.loader import CaseFileError, validate_case

        lines = [q.strip() for q in self.questions.value.splitlines() if q.strip()]
        data: dict[str, str | list[str]] = {
            "id": self.case_id.value.strip().lower(),
            "title": self.case_title.value.strip(),
            "summary": self.summary.value.strip(),
            "body": self.body.value.strip(),
        }
        if lines:
            data["questions"] = lines
        try:
            case = validate_case(data, origin="server")
        except CaseFileError as error:
            raise LabError(f"Not saved: {error.field}: {error.message}") from None
        stored = {k: v for k, v in data.items() if k != "id"}
        await interaction.response.defer(ephemeral=True, thinking=True)
        await case_store.save_server_case(
            self.bot.db, server_id(interaction), case.id, stored, interaction.user.id
        )
        await interaction.edit_original_response(
            content=f"Saved case `{case.id}` with {len(case.questions)} questions: /case post "
            f"case:{case.id}"
        )
