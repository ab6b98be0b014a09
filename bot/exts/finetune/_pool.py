"""Turning what students paste into pool sentences, and telling them what happened."""

from __future__ import annotations

from bot.errors import LabError
from bot.formatting import clip, safe
from bot.storage.pools import AddOutcome

MAX_SENTENCE = 300
POOL_LIMIT = 100
PAGE = 20


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
