"""The engine's preallocated KV cache: rows write in place, move only when they must, and
still get exactly the tokens they would alone, through growth, late long prompts and
sliding-window layers."""

from __future__ import annotations

import threading
import time

import pytest
import torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig

from model_runner.decoding.run import generate, stepper_for
from model_runner.engine import batch as batch_module
from model_runner.engine.batch import RowBatch
from model_runner.engine.engine import DecodeEngine, DecodeJob
from model_runner.protocol import DecodingParams

METHODS = [
    {"method": "greedy"},
    {"method": "beam", "num_beams": 4},
    {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 3},
    {"method": "sampling", "seed": 5, "top_k": 10},
]


def running(model):
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=64, max_rows=64)
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    return engine, thread


def decode_all(model, cases, *, stagger_steps: int = 0):
    """Each (prompt, settings, n) through one engine; later half joins after some steps."""
    engine, thread = running(model)
    try:
        jobs = []
        for i, (prompt, settings, n) in enumerate(cases):
            if stagger_steps and i == len(cases) // 2:
                while engine.steps < stagger_steps:
                    time.sleep(0.002)
            params = DecodingParams(max_new_tokens=n, **settings)
            job = DecodeJob(prompt, stepper_for(params, None, None, "cpu"))
            engine.submit(job)
            jobs.append(job)
        tokens = [job.future.result(timeout=120).tokens for job in jobs]
        deadline = time.monotonic() + 5
        while engine._batch.rows and time.monotonic() < deadline:
            time.sleep(0.002)
        return tokens, engine
    finally:
        engine.stop()
        thread.join(timeout=10)


def alone(model, prompt, settings, n):
    return generate(model, prompt, DecodingParams(max_new_tokens=n, **settings), None, None)


def test_rows_keep_their_tokens_through_growth_and_a_late_long_prompt(gpt2):
    short = [[5, 6, 7], [9, 10, 11, 12]]
    long_late = [list(range(20, 60)), list(range(61, 69))]  # longer than every row already in
    cases = [(short[i % 2], METHODS[i], 3 * batch_module.SPARE_COLUMNS) for i in range(4)]
    cases += [(long_late[i % 2], METHODS[(i + 1) % 4], 20) for i in range(4)]
    got, engine = decode_all(gpt2, cases, stagger_steps=5)
    assert got == [alone(gpt2, *case) for case in cases]
    assert engine._batch.stacks == [] and engine._batch.rows == 0  # buffers kept as spares


def tiny_gemma(**settings) -> Gemma3ForCausalLM:
    """A random Gemma 3 text model, 32 wide (`settings` override its config)."""
    shape = {
        "vocab_size": 96,
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_hidden_layers": 2,
        "num_attention_heads": 2,
        "num_key_value_heads": 1,
        "head_dim": 16,
    }
    torch.manual_seed(0)
    return Gemma3ForCausalLM(Gemma3TextConfig(**{**shape, **settings})).eval()


def test_sliding_window_layers_decode_as_alone():
    model = tiny_gemma(
        sliding_window=4,
        layer_types=["sliding_attention", "full_attention"],
        max_position_embeddings=256,
    )
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)
    # Prompts as long as each other (no padding), longer than the window, and many more
    # tokens than the window holds: the layer must show the model only its last columns.
    prompts = [list(range(10, 18)), list(range(30, 38))]
    cases = [(prompts[i % 2], METHODS[i], 16) for i in range(4)]
    got, _ = decode_all(model, cases)
    assert got == [alone(model, *case) for case in cases]


def test_select_copies_only_the_rows_that_change(gpt2):
    with torch.inference_mode():
        ids = torch.tensor([[1, 2, 3, 4]] * 4)
        out = gpt2(input_ids=ids, use_cache=True)
    batch = RowBatch(torch.device("cpu"))
    batch.add(out.past_key_values, torch.ones(4, 4, dtype=torch.long))
    batch.keys[0][3, :, batch.start : batch.end] = 7.0  # mark row 3
    copies = []
    original = torch.Tensor.copy_

    def counting(self, source, *args, **kwargs):
        copies.append(1)
        return original(self, source, *args, **kwargs)

    torch.Tensor.copy_ = counting  # type: ignore[method-assign]
    try:
        batch.select([0, 1, 3, 3])  # row 2 becomes a copy of row 3; rows 0, 1, 3 stay
    finally:
        torch.Tensor.copy_ = original  # type: ignore[method-assign]
    assert len(batch.stacks) == 1  # every layer's keys and values in one buffer
    assert len(copies) == 2  # one row moved: one copy of every layer, one of its mask
    assert bool((batch.keys[0][2, :, batch.start : batch.end] == 7.0).all())
    batch.select([])
    assert batch.stacks == [] and batch.cache is None


def test_rows_share_the_columns_written_before_their_tick_until_the_rows_change(gpt2):
    with torch.inference_mode():
        out = gpt2(input_ids=torch.tensor([[1, 2, 3, 4, 5]] * 4), use_cache=True)
    batch = RowBatch(torch.device("cpu"))
    batch.add(out.past_key_values, torch.ones(4, 5, dtype=torch.long))
    assert batch.sharing() == ([0, 1, 2, 3], [0, 0, 0, 0])  # each row its own
    batch.stepped()
    batch.stepped()  # two decode columns written, at ticks 0 and 1
    batch.select([0, 0, 2, 3])
    batch.share([1, 0], [0, 1])  # row 0 holds row 1's columns written before tick 1
    assert batch.sharing() == ([1, 1, 2, 3], [batch.end - 1, 0, 0, 0])  # all but the newest
    batch.share([2, 3], [0, 2])  # row 3: every column held
    assert batch.sharing()[1][3] == batch.end
    batch.stepped()  # the column of tick 2 is row 3's own: no longer shared
    assert batch.sharing()[1] == [batch.end - 2, 0, 0, batch.end - 1]
    batch.share([2, 3], [0, -7])  # before every column: from the first in use, not before
    assert batch.sharing()[1][3] == batch.start
    batch.select([0, 1, 2])  # rows moved: forgotten, until the engine says again
    assert batch.sharing() == ([0, 1, 2], [0, 0, 0])


def test_a_cache_the_engine_cannot_hold_is_refused_by_name():
    class Odd:
        keys = values = torch.zeros(1, 1, 1, 1)

    class OddCache:
        layers = [Odd()]

    with pytest.raises(Exception, match="cannot hold this model's cache \\(Odd\\)"):
        RowBatch(torch.device("cpu")).add(OddCache(), torch.ones(1, 1, dtype=torch.long))


def test_columns_shown_again_are_padding_for_the_rows_already_there(gpt2):
    """A long text left (its columns trimmed away); its row was reused; then a longer prompt
    shows those columns again: for every row already there they must be padding, not the
    departed text's keys."""

    def prefilled(length: int):
        with torch.inference_mode():
            out = gpt2(input_ids=torch.arange(1, length + 1).view(1, -1), use_cache=True)
        return out.past_key_values, torch.ones(1, length, dtype=torch.long)

    batch = RowBatch(torch.device("cpu"))
    batch.add(*prefilled(3))  # row 0: a short text
    batch.add(*prefilled(12))  # row 1: a long one
    batch.select([0])  # the long one leaves; its columns are trimmed away
    assert batch.length == 3
    batch.add(*prefilled(2))  # row 1 again, over the long text's old place
    batch.add(*prefilled(10))  # longer than the batch: its columns are shown again
    lengths = [3, 2, 10]
    for row, length in enumerate(lengths):
        expected = [0] * (10 - length) + [1] * length
        assert batch.mask[row].tolist() == expected
        padding = batch.mask[row] == 0
        for keys in batch.keys:
            assert bool((keys[row, :, batch.start : batch.end][:, padding] == 0).all())


def test_rows_and_room_said_when_joining_are_laid_out_once(gpt2, monkeypatch):
    with torch.inference_mode():
        out = gpt2(input_ids=torch.tensor([[1, 2, 3, 4]] * 3), use_cache=True)
    layouts = []
    relayout = RowBatch._relayout

    def counted(self, *args):
        layouts.append(args)
        return relayout(self, *args)

    monkeypatch.setattr(RowBatch, "_relayout", counted)
    batch = RowBatch(torch.device("cpu"))
    batch.add(out.past_key_values, torch.ones(3, 4, dtype=torch.long), rows=12, room=40)
    batch.select([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])  # three 4-beam requests
    for _ in range(40):
        batch.step_inputs([0] * 12)
        batch.stepped()
    assert layouts == []  # 12 rows and 40 more columns were there from the start
    batch.step_inputs([0] * 12)  # one more than was asked for
    assert len(layouts) == 1


def _burst(engine, cases):
    jobs = []
    for prompt, settings, n in cases:
        params = DecodingParams(max_new_tokens=n, **settings)
        jobs.append(DecodeJob(prompt, stepper_for(params, None, None, "cpu")))
        engine.submit(jobs[-1])
    tokens = [job.future.result(timeout=120).tokens for job in jobs]
    deadline = time.monotonic() + 5
    while engine._batch.rows and time.monotonic() < deadline:
        time.sleep(0.002)
    return tokens


def test_an_emptied_batchs_buffers_are_reused_and_nothing_of_them_reaches_a_row(gpt2, monkeypatch):
    from model_runner.engine import engine as engine_module
    from model_runner.engine.engine import BackgroundWork

    engine, thread = running(gpt2)
    try:
        first = [([5, 6, 7, 8], METHODS[i], 12) for i in range(4)]
        assert _burst(engine, first) == [alone(gpt2, *case) for case in first]
        spares = engine._batch.spares
        assert spares and engine._batch.stacks == []
        with torch.inference_mode():
            for spare in spares:
                spare.fill_(float("nan"))  # whatever a row would read of them would show
        kept = {spare.data_ptr() for spare in spares}
        prompts = [[9, 10, 11], list(range(12, 20))]  # padding, and whole buffers read
        second = [(prompts[i % 2], METHODS[(i + 1) % 4], 24) for i in range(3)]  # fewer rows
        assert _burst(engine, second) == [alone(gpt2, *case) for case in second]
        assert {spare.data_ptr() for spare in engine._batch.spares} == kept  # reused
        work = BackgroundWork(steps=iter([1]))
        engine.run_in_background(work)
        work.future.result(timeout=30)
        assert engine._batch.spares == []  # a fine-tune may need the memory: given back
        _burst(engine, first)
        assert engine._batch.spares
        monkeypatch.setattr(engine_module, "SPARE_IDLE_S", 0.0)
        deadline = time.monotonic() + 10
        while engine._batch.spares and time.monotonic() < deadline:
            time.sleep(0.05)
        assert engine._batch.spares == []  # no requests for a while: given back too
    finally:
        engine.stop()
        thread.join(timeout=10)


def test_a_small_layout_between_two_large_ones_keeps_the_large_buffer_whole(gpt2, monkeypatch):
    new_memory: list[int] = []
    real = batch_module.huge_empty

    def counted(*shape, dtype, device):
        new_memory.append(shape[0])
        return real(*shape, dtype=dtype, device=device)

    monkeypatch.setattr(batch_module, "huge_empty", counted)
    batch = RowBatch(torch.device("cpu"))

    def lay_out(rows: int, room: int) -> None:
        with torch.inference_mode():
            out = gpt2(input_ids=torch.tensor([[1, 2, 3, 4]] * rows), use_cache=True)
            batch.add(out.past_key_values, torch.ones(rows, 4, dtype=torch.long), room=room)
            batch.select([])  # every row leaves: the buffers become spares

    lay_out(16, 200)
    large = sum(spare.numel() for spare in batch.spares)
    lay_out(2, 10)  # a small request in between
    assert sum(spare.numel() for spare in batch.spares) == large  # kept whole
    lay_out(16, 200)
    assert len(new_memory) == 1  # laid out in new memory once only
    batch.spares.append(torch.zeros(8))  # a spare too small to hold it is let go
    lay_out(16, 200)
    assert len(new_memory) == 1 and batch.spares[0].numel() == large
