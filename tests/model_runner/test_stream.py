"""A generator's uniforms at chosen places (decoding/stream.py): the values and the state
afterwards are uniform_'s exactly, a uniform of exactly 0 is found, and where the loop cannot
be built or gets the stream wrong it is not used (uniform_ is)."""

from __future__ import annotations

import logging

import pytest
import torch

from model_runner.decoding import stream
from model_runner.decoding.processing import draw_one

needs_it = pytest.mark.skipif(
    stream.LOOP.function() is None, reason="the loop cannot be built here"
)


def advanced(seed: int, before: int) -> torch.Generator:
    generator = torch.Generator().manual_seed(seed)
    torch.empty(before, dtype=torch.float64).uniform_(generator=generator)
    return generator


@needs_it
@pytest.mark.parametrize(
    "seed,before,count",
    [(1, 0, 50257), (2, 311, 2000), (3, 623, 624), (4, 624, 1), (5, 5, 0), (6, 1000, 100_003)],
)
def test_uniforms_and_state_are_uniform_s(seed, before, count):
    generator = advanced(seed, before)
    state = generator.get_state()
    want = torch.empty(count, dtype=torch.float64).uniform_(generator=generator)
    chooser = torch.Generator().manual_seed(seed)
    places = (
        torch.randint(0, max(count, 1), (50,), generator=chooser).unique()
        if count
        else torch.zeros(0, dtype=torch.int64)
    )
    got, zero = stream.uniforms_at(state, count, places)
    assert not zero
    assert torch.equal(got, want[places])
    assert torch.equal(state, generator.get_state())  # the next draw is uniform_'s next too


@needs_it
def test_a_uniform_of_exactly_0_is_found_and_the_draw_is_multinomials():
    state = stream.zero_first_state(3)
    generator = torch.Generator()
    generator.set_state(state)
    assert torch.empty(1, dtype=torch.float64).uniform_(generator=generator).item() == 0.0
    assert stream.uniforms_at(state.clone(), 20_000, torch.tensor([7]))[1] is True
    assert stream.uniforms_at(state.clone(), 1, torch.tensor([0]))[1] is True
    probs = torch.zeros(20_000)
    probs[[3, 17, 900]] = torch.tensor([0.5, 0.3, 0.2])
    mine, theirs = torch.Generator(), torch.Generator()
    mine.set_state(state)
    theirs.set_state(state)
    assert int(draw_one(probs, mine)) == int(torch.multinomial(probs, 1, generator=theirs))
    assert torch.equal(mine.get_state(), theirs.get_state())


@needs_it
def test_arguments_it_does_not_take_leave_the_state_alone():
    state = torch.Generator().manual_seed(0).get_state()
    before = state.clone()
    assert stream.uniforms_at(state, 10, torch.tensor([10])) is None  # past the count
    assert stream.uniforms_at(state, 700, torch.tensor([600, 2, 650])) is None  # not in order
    assert stream.uniforms_at(state, 700, torch.tensor([2, 2])) is None
    assert stream.uniforms_at(state, 10, torch.tensor([3.0])) is None  # not int64
    assert stream.uniforms_at(state[:-8], 10, torch.tensor([3])) is None  # another layout
    broken = state.clone()
    broken[8:12] = torch.tensor([0, 4, 0, 0], dtype=torch.uint8)  # left 1024: not torch's
    assert stream.uniforms_at(broken, 10, torch.tensor([3])) is None
    assert torch.equal(state, before)


@pytest.fixture
def fresh(monkeypatch):
    monkeypatch.setattr(stream.LOOP, "_built", [])


def test_without_a_compiler_uniform_is_used(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CC", "/nowhere/cc")
    with caplog.at_level(logging.INFO, logger=stream.log.name):
        assert stream.uniforms_at(torch.Generator().get_state(), 5, torch.tensor([1])) is None
    assert "no C compiler" in caplog.text


@needs_it
def test_a_loop_that_gets_the_stream_wrong_is_not_used(fresh, monkeypatch, tmp_path, caplog):
    wrong = tmp_path / "wrong.c"  # the real source with one tempering constant changed
    wrong.write_text(stream.LOOP.source.read_text().replace("y ^= y >> 18;", "y ^= y >> 17;"))
    monkeypatch.setattr(stream.LOOP, "source", wrong)
    with caplog.at_level(logging.INFO, logger=stream.log.name):
        assert stream.LOOP.function() is None
    assert "differ from uniform_" in caplog.text
