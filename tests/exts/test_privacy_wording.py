"""/privacy delete's summary of what it removed: each count with its noun in the right number."""

from __future__ import annotations

from bot.exts.privacy._cog import deleted_text
from bot.formatting import counted


def test_one_of_each_is_singular_and_more_are_plural():
    one = dict.fromkeys(["groups_left", "answers_anonymised", "choices_anonymised"], 1)
    assert (
        deleted_text(one) == "You left 1 group. Your name is gone from 1 answer and 1 case choice."
    )
    many = {"groups_left": 2, "choices_anonymised": 3, "runs_anonymised": 2, "cases_anonymised": 0}
    assert deleted_text(many) == (
        "You left 2 groups. Your name is gone from 3 case choices and 2 fine-tunes you started."
    )


def test_nothing_stored_says_so():
    assert deleted_text(dict.fromkeys(["groups_left", "answers_anonymised"], 0)) == (
        "There was nothing stored about you."
    )


def test_counted_takes_an_irregular_plural():
    assert counted(1, "case you wrote", "cases you wrote") == "1 case you wrote"
    assert counted(2, "case you wrote", "cases you wrote") == "2 cases you wrote"
    assert counted(2, "epoch") == "2 epochs"
