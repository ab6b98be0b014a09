"""engine/lineage.py: which of a request's rows hold the same columns, step after step."""

from __future__ import annotations

from model_runner.engine import lineage


def test_rows_continuing_one_parent_are_alike_everywhere_and_others_as_their_parents():
    alike = lineage.start(3, tick=5)  # three copies of one prefilled row
    assert alike == [[5, 5, 5]] * 3
    alike = lineage.after(alike, [0, 0, 0], tick=6)  # all continue row 0
    assert alike == [[6, 6, 6]] * 3
    alike = lineage.after(alike, [2, 0, 0], tick=7)  # rows 1 and 2 now continue old row 0
    assert alike == [[7, 6, 6], [6, 7, 7], [6, 7, 7]]
    alike = lineage.after(alike, [1, 0, 0], tick=8)  # old rows 1 and 0 parted at tick 6
    assert alike == [[8, 6, 6], [6, 8, 8], [6, 8, 8]]
    alike = lineage.after(alike, [1, 2, 1], tick=9)
    assert alike == [[9, 8, 9], [8, 9, 8], [9, 8, 9]]
