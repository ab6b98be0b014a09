"""The instructor's blocked words for fine-tuning pools, and matching sentences against them.

The lab's own case study is about fine-tuning gone wrong, so an instructor can block words or
phrases from every group's pool. Pools check them when sentences are added and again when a run
starts, since the list may change in between. Matching ignores case and Unicode width
variants and looks for whole words, so blocking "ham" does not refuse "hamster".
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import LabError
from bot.storage import guild_settings

MAX_WORDS = 200
MAX_WORD = 60


def normalise(text: str) -> str:
    """Case- and width-insensitive form used on both sides of the comparison."""
    return unicodedata.normalize("NFKC", text).casefold()


def clean_words(text: str) -> list[str]:
    """Words or short phrases from a comma-separated list, normalised."""
    words = [" ".join(normalise(w).split()) for w in text.split(",")]
    words = [w for w in words if w]
    long = next((w for w in words if len(w) > MAX_WORD), None)
    if long is not None:
        raise LabError(f"Each blocked word or phrase can have at most {MAX_WORD} characters.")
    return words


def blocked_word(sentence: str, words: list[str]) -> str | None:
    """The first blocked word or phrase the sentence uses as a whole word, or None."""
    text = normalise(sentence)
    for word in words:
        if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", text):
            return word
    return None


async def blocked_words(db, guild_id: int) -> list[str]:
    """The server's list (set with /lab blockwords)."""
    return list((await guild_settings.load(db, guild_id)).get("blocked_words", []))
