"""The cases a server can use: the built-in four, the instructors' folder, the server's own."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import TYPE_CHECKING

from bot.errors import LabError
from bot.formatting import clip, quoted
from bot.storage import cases as case_store
from cases.loader import CaseFileError, load_cases, validate_case
from cases.model import CaseStudy

if TYPE_CHECKING:
    from bot.lab_bot import LabBot

log = logging.getLogger(__name__)
MODEL = "{model}"  # in a case's text: the name of the model the class runs


def naming_the_model(case: CaseStudy, name: str) -> CaseStudy:
    """The case with `{model}` in its title, summary, text and questions replaced by `name`."""
    if not any(MODEL in text for text in (case.title, case.summary, case.body, *case.questions)):
        return case
    return dataclasses.replace(
        case,
        title=case.title.replace(MODEL, name),
        summary=case.summary.replace(MODEL, name),
        body=case.body.replace(MODEL, name),
        questions=tuple(q.replace(MODEL, name) for q in case.questions),
    )


async def available(bot: LabBot, guild_id: int | None) -> dict[str, CaseStudy]:
    """Every case (ethics cases and the lab tasks' questions), by id; a server's own case
    replaces a file case with the same id. `{model}` in a case's text names the model the
    class runs."""
    folder = bot.settings.storage.cases_dir
    try:
        found = await asyncio.to_thread(load_cases, folder, kind=None)
    except CaseFileError as error:  # a broken instructor file must not hide the others
        log.error("case files: %s", error)
        found = await asyncio.to_thread(load_cases, None, kind=None)
    by_id = {case.id: case for case in found}
    if guild_id is not None:
        for data in await case_store.server_cases(bot.db, guild_id):
            try:
                by_id[data["id"]] = validate_case(data, origin="server")
            except CaseFileError as error:
                log.error("server case %s: %s", data.get("id"), error)
    name = await bot.model_name()
    return {case_id: naming_the_model(case, name) for case_id, case in by_id.items()}


async def find(bot: LabBot, guild_id: int | None, case_id: str) -> CaseStudy:
    """One case by id (or exact title), or a message listing the ids."""
    cases = await available(bot, guild_id)
    wanted = case_id.strip().lower()
    for case in cases.values():
        if wanted in (case.id, case.title.lower()):
            return case
    ids = clip(", ".join(sorted(cases)), 1200)[0]
    raise LabError(f"No case {quoted(case_id)}. Cases: {ids} (see /case list).")
