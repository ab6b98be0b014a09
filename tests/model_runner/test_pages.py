"""Huge pages under the KV buffers: the advice covers exactly the whole huge pages inside a
buffer, is skipped where it cannot help, and (where the kernel allows it) filling an advised
buffer takes a small fraction of the page faults a plain one takes."""

from __future__ import annotations

import resource

import pytest
import torch
from transformers.cache_utils import DynamicCache

from model_runner.engine import pages
from model_runner.engine.batch import RowBatch

MB = 1024 * 1024


@pytest.fixture
def calls(monkeypatch):
    """madvise replaced by a recorder that agrees."""
    seen: list[tuple[int, int, int]] = []

    def madvise(start, length, advice):
        seen.append((start, length, advice))
        return 0

    monkeypatch.setattr(pages, "_madvise", lambda: madvise)
    return seen


def test_the_advice_covers_the_whole_huge_pages_inside_the_buffer(calls):
    tensor = torch.empty(9 * MB // 4)  # 9 MiB of float32
    assert pages.advise_huge(tensor)
    ((start, length, advice),) = calls
    assert advice == pages.MADV_HUGEPAGE
    assert start % pages.HUGE_PAGE == 0 and length % pages.HUGE_PAGE == 0
    begin = tensor.untyped_storage().data_ptr()
    assert begin <= start < begin + pages.HUGE_PAGE
    assert start + length <= begin + 9 * MB < start + length + pages.HUGE_PAGE


def test_small_buffers_and_refusals_are_left_alone(calls, monkeypatch):
    assert not pages.advise_huge(torch.empty(MB // 4))  # 1 MiB: not worth a system call
    assert calls == []
    monkeypatch.setattr(pages, "_madvise", lambda: lambda *_: -1)
    assert not pages.advise_huge(torch.empty(16 * MB // 4))
    monkeypatch.setattr(pages, "_madvise", lambda: None)  # not Linux, THP off or "always"
    tensor = pages.huge_empty(4, MB, dtype=torch.float32, device=torch.device("cpu"))
    assert tensor.shape == (4, MB) and tensor.dtype == torch.float32


def test_the_batch_asks_for_huge_pages_for_its_buffers(calls):
    cache = DynamicCache()
    for layer in range(2):  # 1 row, 16 heads, 3 positions, head dim 256: an 18 MB buffer
        cache.update(torch.randn(1, 16, 3, 256), torch.randn(1, 16, 3, 256), layer)
    batch = RowBatch(torch.device("cpu"))
    batch.add(cache, torch.ones(1, 3, dtype=torch.long), room=4)
    assert len(calls) == len(batch.stacks) == 1
    ((start, _, _),) = calls
    assert 0 <= start - batch.stacks[0].untyped_storage().data_ptr() < pages.HUGE_PAGE
    batch.add(cache, torch.ones(1, 3, dtype=torch.long), room=200)  # laid out anew
    assert len(calls) == 2
    (start, _, _) = calls[1]
    assert 0 <= start - batch.stacks[0].untyped_storage().data_ptr() < pages.HUGE_PAGE


def _faults_filling(tensor: torch.Tensor) -> int:
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    tensor.fill_(1.0)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_an_advised_buffer_fills_with_far_fewer_page_faults():
    if pages._madvise() is None:
        pytest.skip("transparent huge pages are not on 'madvise' here")
    size = 64 * MB
    small_pages = size // 4096
    plain = torch.empty(size // 4)
    assert _faults_filling(plain) > small_pages // 2  # the kernel's 4 KiB pages, one by one
    del plain
    advised = pages.huge_empty(size // 4, dtype=torch.float32, device=torch.device("cpu"))
    assert _faults_filling(advised) < small_pages // 4
