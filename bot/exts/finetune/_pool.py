"""Turning what students paste into pool sentences, and telling them what happened."""

from __future__ import annotations

import time

from bot.errors import LabError
from bot.formatting import clip, safe
from bot.storage.pools import AddOutcome

MAX_SENTENCE = 300
POOL_LIMIT = 100
PAGE = 20
LISTING_TTL_S = 3600  # how long /finetune remove numbers follow a member's last listing


def split_sentences(text: str) -> list[str]:
    """One sentence per line; blank lines and surrounding spaces dropped."""
    lines = [" ".join(line.split()) for line in text.replace("\r", "\n").split("\n")]
    sentences = [line for line in lines if line]
    if not sentences:
        raise LabError("There is no sentence in that: write one sentence per line.")
    long = [s for s in sentences if len(s) > MAX_SENTENCE]
    if long:
        raise LabError(
            f"Each sentence can have at most {MAX_SENTENCE} characters; this one has "
            f'{len(long[0])}: "{safe(clip(long[0], 80)[0])}". Nothing was added.'
        )
    return sentences


def added_message(group: str, outcome: AddOutcome) -> str:
    """What was added, skipped as a duplicate, or refused for size."""
    parts = []
    if outcome.added:
        n = len(outcome.added)
        parts.append(
            f"Added {n} sentence{'s' if n != 1 else ''} to {safe(group)}'s pool "
            f"({outcome.size} in all)."
        )
    if outcome.duplicates:
        first = safe(clip(outcome.duplicates[0], 60)[0])
        parts.append(
            f'{len(outcome.duplicates)} already in the pool, skipped (for example "{first}").'
        )
    if outcome.refused:
        parts.append(
            f"{len(outcome.refused)} not added: the pool holds at most {POOL_LIMIT} sentences."
        )
    return " ".join(parts) or "Nothing was added."


class Listings:
    """The pool each member last listed with /finetune pool (its sentence ids, in order).

    /finetune remove N then removes the sentence the member saw as number N, even if
    groupmates removed others meanwhile (which renumbers the pool), and refuses if that
    sentence is already gone. Listings are kept in memory for `LISTING_TTL_S` seconds;
    without one, N is the pool's sentence N at the moment of the command.
    """

    def __init__(self, ttl_s: float = LISTING_TTL_S) -> None:
        self.ttl_s = ttl_s
        self._seen: dict[int, tuple[int, list[int], float]] = {}

    def remember(self, user_id: int, group_id: int, sentence_ids: list[int]) -> None:
        now = time.monotonic()
        self._seen = {u: v for u, v in self._seen.items() if now - v[2] < self.ttl_s}
        self._seen[user_id] = (group_id, list(sentence_ids), now)

    def seen(self, user_id: int, group_id: int) -> list[int] | None:
        """The ids the member last saw for this group, or None (none, expired, other group)."""
        entry = self._seen.get(user_id)
        if entry is None or entry[0] != group_id or time.monotonic() - entry[2] >= self.ttl_s:
            return None
        return entry[1]
