"""The decode step's attention, read over each layer's whole buffer at the memory's speed.

A decode step's attention is one query per row against every key and value of the row: it is
bound by reading the cache. PyTorch's fused attention kernel (`scaled_dot_product_attention`)
read the batch's keys and values at about 13 GB/s on the 2-core test machine, whatever their
layout; two batched matrix products read a contiguous buffer at 35-45 GB/s, but the columns in
use are a strided part of each row's buffer (columns laid out ahead for the tokens to come),
and on those the products are no faster than the kernel. So when the columns in use fill at
least `SLAB_SHARE` of the buffer, a step's full-attention layers read the whole buffer, the
columns not in use hidden by the mask (the buffers are zeros there, batch.py): at GPT-2 small's
shape, 88 rows, the 12 layers took 18 ms per step however full the buffer, where the kernel
took 17 ms at 30% full, 26 ms at 60% and 35 ms at 90% (about 0.4 s of a class's 13 s burst).

The engine turns this on for its own thread's decode passes only (`reading_buffers`); any other
call, thread, model layout or attention feature it does not handle (sliding windows, logit
soft-capping, attention sinks, dropout, a GPU, a number format other than fp32) goes to
transformers' own SDPA function. The result equals the kernel's up to floating-point
summation order.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from typing import Any

import torch

from model_runner.engine import compiled

log = logging.getLogger(__name__)

SLAB_SHARE = 0.35  # below this share of the buffer in use, the kernel on the columns wins
UNHANDLED = ("softcap", "s_aux", "sinks")  # attention features left to transformers

_local = threading.local()
_original: Callable[..., Any] | None = None


class BufferRead:
    """One decode pass's view of the batch: each full-attention layer's whole buffers and
    the columns every row must not see."""

    def __init__(self, batch: Any) -> None:
        self.batch = batch
        self.rows = batch.rows
        self.hidden = batch.column_mask()[: self.rows] == 0  # [rows, columns], after the step
        self.sharing = _sharing(batch, self.hidden.shape[1])

    def buffers(self, layer: int, key: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Layer `layer`'s keys and values [rows, kv heads, columns, dim], or None when the
        layer is not one this read covers (sliding window, another buffer)."""
        batch = self.batch
        if layer >= len(batch.keys) or batch.windows[layer] is not None:
            return None
        keys, values = batch.keys[layer], batch.values[layer]
        if key.untyped_storage().data_ptr() != keys.untyped_storage().data_ptr():
            return None  # the model is attending over something else
        return keys[: self.rows], values[: self.rows]


def _sharing(batch: Any, columns: int) -> compiled.RowSharing:
    """Which columns each row reads from its request's first row; every row its own should
    the batch ever say something out of range (a slower pass, never a failed one)."""
    lead, shared = batch.sharing()
    try:
        return compiled.RowSharing(lead, shared, columns)
    except ValueError:
        log.warning("decode attention: the rows' sharing was out of range; each reads its own")
        return compiled.RowSharing.alone(len(lead), columns)


def worth_reading_whole(batch: Any) -> bool:
    """Whether this step's attention should read the whole buffers: on a CPU, always through
    the compiled loop (it reads only the columns each row sees), else when filled enough."""
    columns = batch.column_capacity()
    if batch.device.type != "cpu" or columns == 0:
        return False
    return compiled.kernel() is not None or (batch.length + 1) >= SLAB_SHARE * columns


@contextlib.contextmanager
def reading_buffers(batch: Any) -> Iterator[None]:
    """Within this block this thread's decode passes over `batch` read its whole buffers
    (when worth it); other threads and other passes are unchanged."""
    install()
    if not worth_reading_whole(batch):
        yield
        return
    _local.read = BufferRead(batch)
    try:
        yield
    finally:
        _local.read = None


def whole_buffer_attention(
    module: Any,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """transformers' attention-function signature: [rows, 1, heads, dim] and no weights."""
    assert _original is not None
    read: BufferRead | None = getattr(_local, "read", None)
    layer = getattr(module, "layer_idx", None)
    buffers = None
    if (
        read is not None
        and layer is not None
        and query.shape[2] == 1
        and query.shape[0] == read.rows
        and query.dtype == torch.float32  # measured in fp32; bf16 keeps the kernel's fp32 sums
        and not dropout
        and not any(kwargs.get(name) is not None for name in UNHANDLED)
    ):
        buffers = read.buffers(layer, key)
    if buffers is None:
        return _original(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    assert read is not None
    keys, values = buffers  # [rows, kv heads, columns, dim]
    rows, heads, _, dim = query.shape
    kv_heads, columns = keys.shape[1], keys.shape[2]
    groups = heads // kv_heads  # query heads per key head (grouped-query attention)
    scale = dim**-0.5 if scaling is None else scaling
    loop = compiled.kernel()
    out = None if loop is None else loop(query, keys, values, read.hidden, scale, read.sharing)
    if out is not None:
        return out, None
    q = query.reshape(rows * kv_heads, groups, dim)
    scores = torch.bmm(keys.reshape(rows * kv_heads, columns, dim), q.transpose(1, 2))
    scores = scores.view(rows, kv_heads, columns, groups).transpose(2, 3)  # [.., groups, cols]
    scores = (scores * scale).masked_fill_(read.hidden[:, None, None, :], float("-inf"))
    weights = scores.softmax(dim=-1).view(rows * kv_heads, groups, columns)
    out = torch.bmm(weights, values.reshape(rows * kv_heads, columns, dim))  # [.., groups, dim]
    return out.view(rows, 1, heads, dim), None


def install() -> None:
    """Put `whole_buffer_attention` in front of transformers' SDPA function (once)."""
    global _original
    if _original is not None:
        return
    from transformers import AttentionInterface
    from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS

    _original = ALL_ATTENTION_FUNCTIONS["sdpa"]
    AttentionInterface.register("sdpa", whole_buffer_attention)
