"""The decode step's attention over whole buffers (engine/attention.py), both ways it computes
it (the compiled loop of engine/compiled.py, PyTorch's products): it equals the fused kernel
on the columns in use, rows still get exactly their tokens alone when the buffers start out
as NaN and rows leave and join, and every pass it does not own goes to the kernel."""

from __future__ import annotations

import threading

import pytest
import torch
import torch.nn.functional as F

from model_runner.engine import attention, compiled
from model_runner.engine import batch as batch_module
from model_runner.tiny import build_tiny
from tests.model_runner.test_row_batch import METHODS, alone, decode_all, tiny_gemma


class Layer:
    layer_idx = 0


class FakeRead:
    """A BufferRead over given buffers: `hidden` [rows, columns] True where not visible."""

    def __init__(self, keys, values, hidden, sharing=None):
        self.rows, self.hidden, self.pair = keys.shape[0], hidden, (keys, values)
        self.sharing = sharing

    def buffers(self, layer, key):
        return self.pair


@pytest.fixture(params=["compiled", "products"])
def way(request, monkeypatch):
    """Each test both ways; the compiled one must have run (skipped where it cannot be built)."""
    loop = compiled.kernel()
    if request.param == "products":
        monkeypatch.setattr(compiled, "_built", [None])
        yield
        return
    if loop is None:
        pytest.skip("no compiled attention here")
    used = []

    def counted(*arguments):
        out = loop(*arguments)
        used.append(out is not None)
        return out

    monkeypatch.setattr(compiled, "_built", [counted])
    yield
    assert any(used)


@pytest.fixture
def installed():
    attention.install()
    yield
    attention._local.read = None


@pytest.mark.parametrize("heads,kv_heads", [(4, 4), (4, 2), (6, 1)])
def test_it_equals_the_kernel_on_the_columns_in_use(installed, way, heads, kv_heads):
    torch.manual_seed(0)
    rows, columns, dim, first, last = 3, 20, 8, 5, 14  # columns 5..13 in use
    keys = torch.randn(rows, kv_heads, columns, dim)
    values = torch.randn(rows, kv_heads, columns, dim)
    values[:, :, :first] = 0  # outside the columns in use: zeros, as the batch keeps them
    values[:, :, last:] = 0
    keys[:, :, last:] = float("nan")  # keys there never count, whatever they hold
    visible = torch.zeros(rows, columns, dtype=torch.bool)
    visible[:, first:last] = True
    visible[1, first : first + 3] = False  # row 1 is padded on the left
    query = torch.randn(rows, heads, 1, dim)
    attention._local.read = FakeRead(keys, values, ~visible)
    got, weights = attention.whole_buffer_attention(Layer(), query, keys, values, None)
    groups = heads // kv_heads
    k = keys[:, :, first:last].repeat_interleave(groups, dim=1)
    v = values[:, :, first:last].repeat_interleave(groups, dim=1)
    mask = visible[:, None, None, first:last]
    want = F.scaled_dot_product_attention(query, k, v, attn_mask=mask).transpose(1, 2)
    assert weights is None and got.shape == (rows, 1, heads, dim)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-6)


def test_other_threads_and_passes_go_to_the_kernel(installed, monkeypatch):
    calls = []
    monkeypatch.setattr(attention, "_original", lambda *a, **k: calls.append(k) or ("sdpa", None))
    keys = values = torch.zeros(2, 2, 6, 4)
    attention._local.read = FakeRead(keys, values, torch.zeros(2, 6, dtype=torch.bool))
    query = torch.randn(2, 2, 1, 4)
    seen = []
    other = threading.Thread(
        target=lambda: seen.append(
            attention.whole_buffer_attention(Layer(), query, keys, values, None)
        )
    )
    other.start()
    other.join()
    assert seen == [("sdpa", None)]  # another thread: the kernel
    two_positions = torch.randn(2, 2, 2, 4)  # a prefill, not a decode step
    assert attention.whole_buffer_attention(Layer(), two_positions, keys, values, None)[0] == "sdpa"
    capped = attention.whole_buffer_attention(Layer(), query, keys, values, None, softcap=30.0)
    assert capped[0] == "sdpa" and calls[-1]["softcap"] == 30.0
    assert len(calls) == 3
    own = attention.whole_buffer_attention(Layer(), query, keys, values, None)
    assert isinstance(own[0], torch.Tensor) and len(calls) == 3


def nan_buffers(monkeypatch):
    """Every new buffer starts as NaN (as reused memory may hold anything)."""
    original = batch_module.huge_empty

    def poisoned(*shape, dtype, device):
        return original(*shape, dtype=dtype, device=device).fill_(float("nan"))

    monkeypatch.setattr(batch_module, "huge_empty", poisoned)


def counting_reads(monkeypatch) -> list[int]:
    """How many layers each decode pass read whole."""
    reads: list[int] = []
    original = attention.BufferRead.buffers

    def buffers(self, layer, key):
        pair = original(self, layer, key)
        if pair is not None:
            reads.append(layer)
        return pair

    monkeypatch.setattr(attention.BufferRead, "buffers", buffers)
    return reads


def test_rows_get_their_tokens_alone_from_nan_buffers_as_rows_leave_and_join(
    gpt2, way, monkeypatch
):
    nan_buffers(monkeypatch)
    reads = counting_reads(monkeypatch)
    prompts = [[5, 6, 7], [9, 10, 11, 12], list(range(20, 44)), [3] * 7]
    lengths = [6, 40, 12, 25]  # rows leave at different steps; the late ones join their places
    cases = [(prompts[i % 4], METHODS[i % 4], lengths[(i + i // 4) % 4]) for i in range(8)]
    got, _ = decode_all(gpt2, cases, stagger_steps=4)
    assert got == [alone(gpt2, *case) for case in cases]
    assert len(reads) > 20  # the whole buffers were read, not only the kernel's columns


def checking_shared_reads(monkeypatch) -> tuple[list[int], list[int]]:
    """At every pass of the compiled loop, the columns each row is told it shares with its
    lead are checked equal to the lead's, then poisoned (NaN) in a copy handed to the loop:
    (visible columns read from a lead per row and pass, rows found unlike their lead)."""
    original = compiled.DecodeAttention.__call__
    shared: list[int] = []
    unlike: list[int] = []

    def checked(self, query, keys, values, hidden, scale, sharing=None):
        keys, values = keys.clone(), values.clone()
        for row, (lead, span) in enumerate(zip(sharing.lead, sharing.shared, strict=True)):
            if lead == row or span == 0:
                continue
            seen = ~hidden[row, :span]
            if not torch.equal(hidden[row, :span], hidden[lead, :span]) or not all(
                torch.equal(buffer[row, :, :span][:, seen], buffer[lead, :, :span][:, seen])
                for buffer in (keys, values)
            ):
                unlike.append(row)
            keys[row, :, :span] = values[row, :, :span] = float("nan")  # the lead's are read
            shared.append(int(seen.sum()))
        return original(self, query, keys, values, hidden, scale, sharing)

    monkeypatch.setattr(compiled.DecodeAttention, "__call__", checked)
    return shared, unlike


def test_a_requests_rows_read_their_common_columns_from_one_row(gpt2, monkeypatch):
    """Beams and contrastive candidates read the columns they hold alike from their lead row,
    and every request still gets exactly its tokens alone."""
    if compiled.kernel() is None:
        pytest.skip("the compiled loop cannot be built here")
    shared, unlike = checking_shared_reads(monkeypatch)
    prompts = [[5, 6, 7], list(range(20, 44)), [9, 10, 11, 12]]
    cases = [(prompts[i % 3], METHODS[1 + i % 2], 8 + 5 * i) for i in range(6)]  # beam, contr.
    cases.append(([3] * 7, METHODS[0], 30))  # a greedy row beside them shares nothing
    got, _ = decode_all(gpt2, cases, stagger_steps=3)
    assert not unlike
    assert got == [alone(gpt2, *case) for case in cases]
    assert len(shared) > 100 and sum(shared) > 10 * len(shared)  # many rows, many columns


def test_beams_share_the_columns_they_generated_alike_not_only_their_prompt(gpt2, monkeypatch):
    if compiled.kernel() is None:
        pytest.skip("the compiled loop cannot be built here")
    shared, unlike = checking_shared_reads(monkeypatch)
    cases = [([5, 6, 7], METHODS[1], 30), ([9, 10, 11, 12], METHODS[1], 24)]
    got, _ = decode_all(gpt2, cases)
    assert not unlike
    assert got == [alone(gpt2, *case) for case in cases]
    assert max(shared) > 4 + 10  # beyond the prompts: columns the beams generated alike


def test_grouped_query_attention_reads_whole_buffers_too(way, monkeypatch):
    model = tiny_gemma(layer_types=["full_attention"] * 2, max_position_embeddings=256)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(4)
    nan_buffers(monkeypatch)
    reads = counting_reads(monkeypatch)
    prompts = [list(range(10, 18)), list(range(30, 34))]
    cases = [(prompts[i % 2], METHODS[i], 24) for i in range(4)]
    got, _ = decode_all(model, cases)
    assert got == [alone(model, *case) for case in cases]
    assert reads


def test_a_barely_filled_buffer_is_left_to_the_kernel_unless_the_loop_reads_it(monkeypatch):
    batch = batch_module.RowBatch(torch.device("cpu"))
    batch._mask = torch.zeros(4, 100, dtype=torch.long)
    batch.start, batch.end = 50, 60  # 11 of 100 columns seen by the next step
    monkeypatch.setattr(compiled, "_built", [None])  # PyTorch's products: they read it all
    assert not attention.worth_reading_whole(batch)
    batch.start = 10  # 51 of 100
    assert attention.worth_reading_whole(batch)
    batch.start = 50
    monkeypatch.setattr(compiled, "_built", [object()])  # the loop reads the visible columns
    assert attention.worth_reading_whole(batch)


def test_a_sharing_out_of_range_leaves_each_row_its_own_and_says_so(caplog):
    class Batch:
        rows = 3

        def sharing(self):
            return [0, 5, 1], [0, 3, 0]  # row 5 is not in the batch

    with caplog.at_level("WARNING"):
        sharing = attention._sharing(Batch(), 10)
    assert (sharing.lead, sharing.shared) == ([0, 1, 2], [0, 0, 0])
    assert "out of range" in caplog.text


def test_heads_of_64_take_the_blocks_path_and_rows_still_get_their_tokens_alone(monkeypatch):
    """GPT-2's own head size (64, here one head 64 wide) runs the compiled loop's 64-float
    blocks path, from NaN buffers, rows sharing columns with their lead, rows leaving and
    joining: every request gets exactly its tokens alone."""
    if compiled.kernel() is None:
        pytest.skip("the compiled loop cannot be built here")
    model, _ = build_tiny(n_head=1, seed=3)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(6)
    nan_buffers(monkeypatch)
    shared, unlike = checking_shared_reads(monkeypatch)
    dims: list[int] = []
    original = compiled.DecodeAttention.__call__

    def recorded(self, query, *arguments):
        dims.append(query.shape[-1])
        return original(self, query, *arguments)

    monkeypatch.setattr(compiled.DecodeAttention, "__call__", recorded)
    prompts = [[5, 6, 7], [9, 10, 11, 12], list(range(20, 44)), [3] * 7]
    cases = [(prompts[i % 4], METHODS[i % 4], [6, 30, 12, 25][(i + i // 4) % 4]) for i in range(8)]
    got, _ = decode_all(model, cases, stagger_steps=4)
    assert got == [alone(model, *case) for case in cases]
    assert not unlike and sum(shared) > 0
    assert len(dims) > 20 and set(dims) == {64}
