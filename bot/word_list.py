"""The instructor's blocked words for fine-tuning pools, and matching sentences against them.

The lab's own case study is about fine-tuning gone wrong, so an instructor can block words or
phrases from every group's pool. Pools check them when sentences are added and again when a run
starts, since the list may change in between. Matching ignores case and Unicode width
variants and looks for whole words, so blocking "ham" does not refuse "hamster".

It also sees through the usual ways of slipping a word past a filter: invisible characters
inside it (zero-width spaces, joiners, soft hyphens), combining marks on its letters (accents,
strike-through overlays), Cyrillic and Greek letters that look like Latin ones, and digits
standing for letters inside a word ("h4te"). Digits are read as letters only in a word that
also has letters, so "2024" or "5 eggs" stay as they are.
"""

from __future__ import annotations

import re
import unicodedata

from bot.errors import LabError
from bot.storage import guild_settings

MAX_WORDS = 200
MAX_WORD = 60


# Cyrillic and Greek letters that look like Latin ones (before case folding: Greek capital
# eta looks like H, its small letter like n).
LOOK_ALIKES = str.maketrans(
    dict(
        zip(
            "АВЕКМНОРСТХЅІЈԁаеорсухіјѕһӏкмтпвгьΑΒΕΖΗΙΚΜΝΟΡΤΥΧαβεικνορτυχηως",
            "ABEKMHOPCTXSIJdaeopcyxijshlkmtnbrbABEZHIKMNOPTYXabeiknoptuxnws",
            strict=True,
        )
    )
)
LEET = str.maketrans("013457", "oieast")
INVISIBLE = re.compile(
    "[\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180e\u200b-\u200f"
    "\u202a-\u202e\u2060-\u2064\u206a-\u206f\u3164\ufeff\uffa0]"
)
MIXED_WORD = re.compile(r"\w*(?:[^\W\d_]\w*\d|\d\w*[^\W\d_])\w*")


def normalise(text: str) -> str:
    """The form used on both sides of the comparison: no case, width, invisible characters,
    combining marks, look-alike letters, or digits standing for letters inside words."""
    text = INVISIBLE.sub("", unicodedata.normalize("NFKC", text))
    decomposed = unicodedata.normalize("NFD", text)
    text = "".join(c for c in decomposed if not unicodedata.combining(c))
    text = unicodedata.normalize("NFC", text).translate(LOOK_ALIKES).casefold()
    return MIXED_WORD.sub(lambda word: word[0].translate(LEET), text)


def clean_words(text: str) -> list[str]:
    """Words or short phrases from a comma-separated list, as the instructor wrote them (in
    lower case, spaces and invisible characters tidied); matching normalises them fully."""
    tidy = (INVISIBLE.sub("", unicodedata.normalize("NFKC", w)).casefold() for w in text.split(","))
    words = [" ".join(w.split()) for w in tidy]
    words = [w for w in words if w]
    long = next((w for w in words if len(w) > MAX_WORD), None)
    if long is not None:
        raise LabError(f"Each blocked word or phrase can have at most {MAX_WORD} characters.")
    return words


def same_word(a: str, b: str) -> bool:
    """True when two list entries block the same thing ("h4te" and "hate")."""
    return normalise(a) == normalise(b)


def blocked_word(sentence: str, words: list[str]) -> str | None:
    """The first blocked word or phrase the sentence uses as a whole word, or None."""
    text = normalise(sentence)
    for word in words:
        wanted = " ".join(normalise(word).split())
        if wanted and re.search(rf"(?<!\w){re.escape(wanted)}(?!\w)", text):
            return word
    return None


async def blocked_words(db, guild_id: int) -> list[str]:
    """The server's list (set with /lab blockwords)."""
    return list((await guild_settings.load(db, guild_id)).get("blocked_words", []))
