"""Each row's k largest values in one pass over the row: torch.topk's answer, found faster.

A decode step's decisions take a few largest entries of every row of the vocabulary: beam
search the 2 * num_beams best continuations of each beam, contrastive search its top-k
candidates, sampling its top-k threshold. torch.topk on the 2-core test machine spends about
30 us on a 50,257-wide row (1.4 ms on a burst's 40 beam rows with their scores added first);
row_top.c reads each row once, eight values at a time, keeping the k + 1 largest (0.44 ms on
those rows, 13 us on one).

Its answer is torch.topk's wherever torch.topk's is unambiguous: when two of a row's k + 1
largest are equal, or a row holds NaN, `row_top()` answers None and the caller asks torch
(whose order among equal values is its own). The library is built on first use
(model_runner/native.py) and checked against torch.topk first.
"""

from __future__ import annotations

import ctypes
import logging
from pathlib import Path

import torch

from model_runner import native

log = logging.getLogger(__name__)

MOST = 128  # the largest k the loop takes (row_top.c's MOST)


def row_top(
    x: torch.Tensor, k: int, add: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """`torch.topk(x + add[:, None], k, dim=-1)` (values, indices) for float32 CPU `x`
    [rows, vocab] and `add` [rows] (None: x itself), or None where this loop does not give
    it (a tie or NaN among a row's k + 1 largest, k out of its range, another kind of
    tensor, no library here)."""
    if not _takes(x, k, add):
        return None
    function = LOOP.function()
    if function is None:
        return None
    values, index, unsure = _call(function, x, k, None if add is None else add.contiguous())
    return None if bool(unsure.any()) else (values, index)


def _takes(x: torch.Tensor, k: int, add: torch.Tensor | None) -> bool:
    return (
        x.dtype == torch.float32
        and x.device.type == "cpu"
        and x.dim() == 2
        and x.shape[0] > 0
        and x.stride(1) == 1
        and 1 <= k <= MOST
        and k < x.shape[1]
        and (
            add is None
            or (
                add.dtype == torch.float32
                and add.device.type == "cpu"
                and add.shape == (x.shape[0],)
            )
        )
        and not x.requires_grad
    )


def _call(
    function: ctypes._CFuncPtr,  # type: ignore[name-defined]
    x: torch.Tensor,
    k: int,
    add: torch.Tensor | None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    rows = x.shape[0]
    values = torch.empty(rows, k, dtype=torch.float32)  # (not the default dtype: C writes float)
    index = torch.empty(rows, k, dtype=torch.int64)
    unsure = torch.ones(rows, dtype=torch.uint8)  # unsure unless the loop says otherwise
    failed = function(
        x.data_ptr(),
        rows,
        x.stride(0),
        x.shape[1],
        None if add is None else add.data_ptr(),
        k,
        values.data_ptr(),
        index.data_ptr(),
        unsure.data_ptr(),
    )
    if failed:
        unsure.fill_(1)
    return values, index, unsure


def _check(function: ctypes._CFuncPtr) -> str | None:  # type: ignore[name-defined]
    """None when the loop gives torch.topk's answer and marks ties and NaN, else what differs."""
    generator = torch.Generator().manual_seed(0)
    for rows, vocab, k in [(5, 50257, 10), (3, 1000, MOST), (2, 12, 8), (4, 77, 1)]:
        x = torch.randn(rows, vocab, generator=generator).log_softmax(dim=-1) * 3
        x[0, : vocab // 3] = -float("inf")  # banned tokens
        add = torch.randn(rows, generator=generator) * 5
        for shift in (add, None):
            values, index, unsure = _call(function, x, k, shift)
            want = torch.topk(x if shift is None else x + shift[:, None], k, dim=-1)
            if bool(unsure.any()) or not (
                torch.equal(values, want.values) and torch.equal(index, want.indices)
            ):
                return "its answer differs from torch.topk's"
    tied = torch.randn(3, 500, generator=generator)
    tied[0, 10] = tied[0, 20] = 9.0  # two equal largest
    tied[1, 30] = float("nan")
    if _call(function, tied, 4, None)[2].tolist() != [1, 1, 0]:
        return "it does not tell ties and NaN apart"
    return None


LOOP = native.Loop(
    Path(__file__).with_name("row_top.c"),
    "labbot_row_top",
    [ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p]
    + [ctypes.c_int64, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p],
    ctypes.c_int,
    _check,
    "row top-k",
    log,
)
