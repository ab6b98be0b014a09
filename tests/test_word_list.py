"""The instructor's blocked words: whole words and phrases, any case or width."""

import pytest

from bot.errors import LabError
from bot.word_list import MAX_WORD, blocked_word, clean_words


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
