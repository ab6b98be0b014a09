"""Each row's k largest in one pass (decoding/row_top.py): torch.topk's values and indices
whenever they are unambiguous, None on a tie or NaN among a row's k + 1 largest and on what
it does not take, and a loop that gets it wrong is not used."""

from __future__ import annotations

import logging

import pytest
import torch

from model_runner.decoding import row_top as module
from model_runner.decoding.row_top import MOST, row_top

needs_it = pytest.mark.skipif(module.LOOP.function() is None, reason="no loop built here")


@needs_it
@pytest.mark.parametrize(
    "rows,vocab,k", [(40, 50257, 10), (8, 50257, 50), (1, 50257, 4), (3, 130, MOST), (2, 9, 8)]
)
def test_it_is_torch_topk_of_the_rows_with_their_scores_added(rows, vocab, k):
    generator = torch.Generator().manual_seed(rows + vocab + k)
    x = torch.randn(rows, vocab + 3, generator=generator)[:, 3:]  # a row stride past vocab
    add = torch.randn(rows, generator=generator) * 10
    for shift in (add, None):
        got = row_top(x, k, shift)
        assert got is not None
        want = torch.topk(x if shift is None else x + shift[:, None], k, dim=-1)
        assert torch.equal(got[0], want.values) and torch.equal(got[1], want.indices)


@needs_it
def test_banned_tokens_and_peaked_rows_still_match():
    x = torch.full((2, 5000), -float("inf"))
    x[0, [5, 900, 4999]] = torch.tensor([1.0, 3.0, 2.0])  # three tokens left, k = 2
    x[1] = torch.randn(5000, generator=torch.Generator().manual_seed(1)) * 30
    got = row_top(x, 2)
    want = torch.topk(x, 2, dim=-1)
    assert got is not None and torch.equal(got[1], want.indices)
    got = row_top(x, 3)  # row 0's 4 largest hold one -inf: still told apart
    assert got is not None and torch.equal(got[1], torch.topk(x, 3, dim=-1).indices)
    assert row_top(x, 4) is None  # its 5 largest hold two equal -inf: torch decides


@needs_it
def test_ties_and_nan_are_left_to_torch():
    x = torch.randn(2, 300, generator=torch.Generator().manual_seed(2))
    x[0, 17] = x[0, 200] = 50.0
    assert row_top(x, 3) is None
    x[0, 200] = 0.0
    assert row_top(x, 3) is not None
    x[1, 5] = float("nan")
    assert row_top(x, 3) is None


def test_what_it_does_not_take_is_none():
    x = torch.randn(2, 50)
    assert row_top(x, 0) is None and row_top(x, 50) is None and row_top(x, MOST + 1) is None
    assert row_top(x.double(), 3) is None and row_top(x.t(), 3) is None
    assert row_top(x, 3, torch.zeros(3)) is None  # one score per row


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(module.LOOP, "_built", [])


@needs_it
def test_a_loop_that_gets_it_wrong_is_not_used(fresh, monkeypatch, tmp_path, caplog):
    wrong = tmp_path / "wrong.c"  # each row's best read as if its scores were not added
    wrong.write_text(module.LOOP.source.read_text().replace("v = v + shift;", ";"))
    monkeypatch.setattr(module.LOOP, "source", wrong)
    with caplog.at_level(logging.INFO, logger=module.log.name):
        assert row_top(torch.randn(2, 100), 3) is None
    assert "differs from torch.topk" in caplog.text


def test_without_a_compiler_it_is_none(fresh, monkeypatch):
    monkeypatch.setenv("CC", "/nowhere/cc")
    assert row_top(torch.randn(2, 100), 3) is None


@needs_it
def test_its_values_are_float32_whatever_the_default_dtype(monkeypatch):
    x = torch.randn(2, 1000, generator=torch.Generator().manual_seed(4))
    want = torch.topk(x, 3, dim=-1)
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # (transformers sets it while it loads a model)
    try:
        got = row_top(x, 3)
    finally:
        torch.set_default_dtype(previous)
    assert got is not None and torch.equal(got[0], want.values)


def test_a_check_that_breaks_leaves_torchs_way(fresh, monkeypatch, caplog):
    def broken(function):
        raise RuntimeError("boom")

    monkeypatch.setattr(module.LOOP, "check", broken)
    with caplog.at_level(logging.INFO, logger=module.log.name):
        assert row_top(torch.randn(2, 100), 3) is None
    assert module.LOOP._built == [None]  # not tried again at every call
