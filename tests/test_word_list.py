"""The instructor's blocked words: whole words and phrases, any case or width."""

import pytest

from bot.errors import LabError
from bot.word_list import MAX_WORD, blocked_word, clean_words, same_word


def test_words_are_normalised_from_a_comma_list():
    assert clean_words(" Spam ,, Deep   FRY,") == ["spam", "deep fry"]
    with pytest.raises(LabError, match=str(MAX_WORD)):
        clean_words("x" * (MAX_WORD + 1))


@pytest.mark.parametrize(
    ("sentence", "hit"),
    [
        ("I like SPAM.", "spam"),
        ("ｓｐａｍ in full width", "spam"),
        ("We deep fry it", "deep fry"),
        ("A hamster and spamalot", None),
        ("deep-fried is different", None),
        ("(spam)", "spam"),
    ],
)
def test_matching_is_by_whole_word(sentence, hit):
    assert blocked_word(sentence, ["spam", "deep fry"]) == hit


@pytest.mark.parametrize(
    "sentence",
    [
        "I like sp\u200bam.",  # zero-width space
        "I like s\u00adp\u2060am.",  # soft hyphen, word joiner
        "I like spa\u0301m.",  # combining accent
        "I like s\u0336p\u0336a\u0336m\u0336.",  # strike-through overlay
        "I like ѕрам.",  # Cyrillic look-alikes
        "I like SΡAM.",  # Greek capital rho
        "I like 5p4m.",  # digits for letters
    ],
)
def test_disguised_words_are_still_found(sentence):
    assert blocked_word(sentence, ["spam"]) == "spam"


@pytest.mark.parametrize(
    "sentence",
    [
        "Whisk 5 eggs in 2024.",
        "Spain has 3 amazing beaches.",
        "The café serves naïve art.",
        "Привет, как дела?",
    ],
)
def test_ordinary_sentences_are_not_refused(sentence):
    assert blocked_word(sentence, ["spam", "hate", "eggs 5", "pain"]) is None


def test_words_blocked_with_accents_match_either_way():
    assert blocked_word("A cafe on the corner", clean_words("Café")) == "café"
    assert blocked_word("A café on the corner", ["cafe"]) == "cafe"


def test_the_list_keeps_words_as_written_and_knows_variants():
    assert clean_words("covid19, h\u200bate") == ["covid19", "hate"]
    assert same_word("h4te", "HATE") and not same_word("hate", "hat")
