"""The cases a server can use: the built-in four, the instructors' folder, the server's own."""

from __future__ import annotations

import asyncio
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


async def available(bot: LabBot, guild_id: int | None) -> dict[str, CaseStudy]:
    """Every case (ethics cases and the lab tasks' questions), by id; a server's own case replaces a file case with the same id."""
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
    return by_id


async def find(bot: LabBot, guild_id: int | None, case_id: str) -> CaseStudy:
    """One case by id (or exact title), or a message listing the ids."""
    cases = await available(bot, guild_id)
    wanted = case_id.strip().lower()
    for case in cases.values():
        if wanted in (case.id, case.title.lower()):
            return case
    ids = clip(", ".join(sorted(cases)), 1200)[0]
    raise LabError(f"No case {quoted(case_id)}. Cases: {ids} (see /case list).")
