"""The compiled decode attention (engine/compiled.py): it equals PyTorch's fused attention,
runs on torch's own OpenMP threads, and is not used (the products are) when it cannot be
built here or disagrees with PyTorch."""

from __future__ import annotations

import logging
import os
import threading

import pytest
import torch
import torch.nn.functional as F

from model_runner.engine import compiled

built = compiled.kernel()  # once per test process, as in a runner
needs_it = pytest.mark.skipif(built is None, reason="no C compiler or not torch's GNU OpenMP")


def layer(rows, heads, kv_heads, columns, dim, *, seed=0):
    """A decode step's query and one layer's buffers; hidden columns hold NaN."""
    generator = torch.Generator().manual_seed(seed)
    query = torch.randn(rows, heads, 1, dim, generator=generator)
    keys = torch.randn(rows, kv_heads, columns, dim, generator=generator) * 3
    values = torch.randn(rows, kv_heads, columns, dim, generator=generator)
    hidden = torch.rand(rows, columns, generator=generator) < 0.4
    hidden[:, -1] = False
    hidden[0, :-1] = True  # row 0 sees one column only
    spread = hidden[:, None, :, None].expand_as(keys)
    keys[spread], values[spread] = float("nan"), float("nan")
    return query, keys, values, hidden


def fused(query, keys, values, hidden):
    """PyTorch's own attention over the visible columns, [rows, 1, heads, dim]."""
    groups = query.shape[1] // keys.shape[1]
    k = keys.nan_to_num().repeat_interleave(groups, dim=1)
    v = values.nan_to_num().repeat_interleave(groups, dim=1)
    mask = ~hidden[:, None, None, :]
    return F.scaled_dot_product_attention(query, k, v, attn_mask=mask).transpose(1, 2)


@pytest.mark.skipif(
    compiled._unusable_here() is not None, reason="not Linux, no cc, or torch not on GNU OpenMP"
)
def test_it_builds_and_passes_its_check_wherever_it_can():
    assert built is not None  # else every class on this kind of machine silently loses it


@needs_it
@pytest.mark.parametrize(
    "rows,heads,kv_heads,columns,dim",
    [
        (88, 12, 12, 74, 64),
        (3, 8, 2, 130, 80),  # a head size off the 64-float blocks: the plain loop
        (4, 4, 1, 7, 256),
        (1, 2, 2, 1, 64),
        (5, 6, 3, 33, 128),  # grouped heads, two blocks of 64
    ],
)
def test_it_equals_pytorchs_fused_attention(rows, heads, kv_heads, columns, dim):
    query, keys, values, hidden = layer(rows, heads, kv_heads, columns, dim)
    got = built(query, keys, values, hidden, dim**-0.5)
    assert got is not None and got.shape == (rows, 1, heads, dim)
    torch.testing.assert_close(got, fused(query, keys, values, hidden), rtol=1e-5, atol=2e-6)


@needs_it
def test_arguments_it_does_not_take_are_handed_back():
    query, keys, values, hidden = layer(2, 4, 4, 5, 8)
    assert (
        built(query, keys.transpose(2, 3).contiguous().transpose(2, 3), values, hidden, 1.0) is None
    )
    assert built(query.double(), keys.double(), values.double(), hidden, 1.0) is None
    assert built(query, keys, values, hidden.long(), 1.0) is None


@needs_it
def test_rows_sharing_a_lead_read_its_columns_and_their_own_after():
    query, keys, values, hidden = layer(6, 4, 2, 40, 64, seed=3)
    hidden[1:4, :30] = hidden[0, :30]  # rows 1-3 hold row 0's first 30 columns
    hidden[5, :12] = hidden[4, :12]  # row 5 row 4's first 12
    for buffer in (keys, values):
        buffer[1:4, :, :30] = buffer[0:1, :, :30]
        buffer[5, :, :12] = buffer[4, :, :12]
    want = fused(query, keys, values, hidden)
    sharing = compiled.RowSharing([0, 0, 0, 0, 4, 4], [0, 30, 30, 30, 0, 12], 40)
    for buffer in (keys, values):  # what a follower holds there is never read
        buffer[1:4, :, :30] = float("nan")
        buffer[5, :, :12] = float("nan")
    got = built(query, keys, values, hidden, 0.125, sharing)
    torch.testing.assert_close(got, want, rtol=1e-5, atol=2e-6)


def test_a_sharing_that_would_read_outside_the_buffers_is_refused():
    with pytest.raises(ValueError, match="lead rows must lie in 0..2"):
        compiled.RowSharing([0, 3, 1], [0, 5, 0], 10)
    with pytest.raises(ValueError, match="spans in 0..10"):
        compiled.RowSharing([0, 0, 1], [0, 11, 0], 10)
    with pytest.raises(ValueError, match="one lead row"):
        compiled.RowSharing([0, 0], [0], 10)
    with pytest.raises(TypeError):
        compiled.RowSharing([0, 1.9], [0, 1], 10)  # type: ignore[list-item]
    checked = compiled.RowSharing([0, 0, 1], [0, 4, 0], 10)
    checked.lead[1] = 1 << 40  # what it hands out is a copy: the loop's rows stay checked
    assert checked.lead == [0, 0, 1]
    with pytest.raises(AttributeError):
        checked.rows = 2  # type: ignore[misc]


@needs_it
def test_a_sharing_of_other_rows_or_columns_is_handed_back():
    query, keys, values, hidden = layer(3, 2, 2, 10, 64)
    assert built(query, keys, values, hidden, 1.0, compiled.RowSharing.alone(2, 10)) is None
    assert built(query, keys, values, hidden, 1.0, compiled.RowSharing.alone(3, 11)) is None


@needs_it
@pytest.mark.skipif(not os.path.isdir("/proc/self/task"), reason="needs Linux's /proc")
def test_it_runs_on_torchs_own_openmp_threads():
    seen = {}
    was = torch.get_num_threads()  # (1 in the tests: conftest.py)

    def step() -> None:
        torch.set_num_threads(2)
        try:
            torch.ones(4_000_000).mul_(2)  # this thread's team of torch's workers
            before = set(os.listdir("/proc/self/task"))
            query, keys, values, hidden = layer(64, 4, 4, 300, 64)
            seen["out"] = built(query, keys, values, hidden, 0.125)
            seen["want"] = fused(query, keys, values, hidden)
            seen["new"] = set(os.listdir("/proc/self/task")) - before
        finally:
            torch.set_num_threads(was)

    worker = threading.Thread(target=step)
    worker.start()
    worker.join()
    assert seen["new"] == set()  # no threads of its own: torch's team ran it
    torch.testing.assert_close(seen["out"], seen["want"], rtol=1e-5, atol=2e-6)


@pytest.fixture
def fresh(monkeypatch):
    """kernel() builds anew in this test (and the process's own build is back after it)."""
    monkeypatch.setattr(compiled, "_built", [])


def test_without_a_compiler_the_products_are_used(fresh, monkeypatch, caplog):
    monkeypatch.setenv("CC", "/nowhere/cc")
    with caplog.at_level(logging.INFO, logger=compiled.log.name):
        assert compiled.kernel() is None
    assert "no C compiler" in caplog.text
    assert compiled.kernel() is None and caplog.text.count("not used") == 1  # told once


@needs_it
def test_a_compiler_named_with_more_words_builds_it(fresh, monkeypatch):
    monkeypatch.setenv("CC", "env cc")  # as `ccache gcc` would be
    assert compiled.kernel() is not None


@needs_it
def test_a_source_that_does_not_build_is_not_used(fresh, monkeypatch, tmp_path, caplog):
    broken = tmp_path / "broken.c"
    broken.write_text("int labbot_decode_attention(void) { return }\n")
    monkeypatch.setattr(compiled, "SOURCE", broken)
    with caplog.at_level(logging.INFO, logger=compiled.log.name):
        assert compiled.kernel() is None
    assert "did not build" in caplog.text


@needs_it
def test_a_loop_that_disagrees_with_pytorch_is_not_used(fresh, monkeypatch, tmp_path, caplog):
    wrong = tmp_path / "wrong.c"  # the real source with its scale left out
    wrong.write_text(compiled.SOURCE.read_text().replace("dot *= scale;", ""))
    monkeypatch.setattr(compiled, "SOURCE", wrong)
    with caplog.at_level(logging.INFO, logger=compiled.log.name):
        assert compiled.kernel() is None
    assert "differs from PyTorch" in caplog.text
