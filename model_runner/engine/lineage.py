"""Which of a request's rows hold the same keys and values, and in which columns.

A beam or contrastive request's rows descend from its one prefilled row: every step each new
row continues a parent row, as a copy of it, and then writes its own newest column. So two
rows are alike (bit for bit) in every column written before the step at which their lines
parted, and only there. The engine keeps, per request, that step for every pair of its rows
(`Alike`), counted in the batch's ticks (one per decode step, batch.py): the columns written
before tick t are the ones a relayout never separates from the newest.

From it the engine copies, when a row takes over another row of its own request, only the
columns in which the two differ, and the attention reads the columns a row shares with its
request's first row from that row (batch.py `share`). Beams part late: on GPT-2 small's burst
a request's five beams held the same columns for most of their text, not only the prompt.
"""

from __future__ import annotations

Alike = list[list[int]]  # [row i][row j]: the tick before which rows i and j are alike


def start(rows: int, tick: int) -> Alike:
    """A request's `rows` rows when they are all its one prefilled row: alike everywhere."""
    return [[tick] * rows for _ in range(rows)]


def after(before: Alike, parents: list[int], tick: int) -> Alike:
    """The rows once new row k continues old row `parents[k]` (a copy of it, at `tick`): rows
    continuing the same parent are alike in every column held; other rows as their parents."""
    return [[tick if pk == pl else before[pk][pl] for pl in parents] for pk in parents]
