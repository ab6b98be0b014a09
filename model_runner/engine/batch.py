"""The rows decoded together: one KV cache for all of them, left-padded to a common length.

Rows join with their own prefilled cache (padded on the left to the batch's length, or the
batch padded to theirs), are reordered or duplicated when beam and contrastive search pick
parents, and leave when their request finishes. The attention mask hides the padding and
each row's position ids count only its real tokens, so a row computes what it would alone
(up to floating-point summation order).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def _layers(cache: Any) -> list[Any]:
    return list(cache.layers)


def _pad_left(tensor: torch.Tensor, amount: int, dim: int) -> torch.Tensor:
    """Zeros on the left of `dim` (keys/values: dim 2; masks: dim 1)."""
    if amount == 0:
        return tensor
    pad = [0, 0] * (tensor.dim() - dim - 1) + [amount, 0]
    return F.pad(tensor, pad)


class RowBatch:
    """The shared cache, attention mask and positions of every active row."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.cache: Any = None
        self.mask = torch.zeros(0, 0, dtype=torch.long, device=device)  # [rows, length]

    @property
    def rows(self) -> int:
        return self.mask.shape[0]

    @property
    def length(self) -> int:
        return self.mask.shape[1]

    def add(self, cache: Any, new_mask: torch.Tensor) -> range:
        """Append the rows of a prefilled `cache` ([rows, length] mask, 0 = padding)."""
        start = self.rows
        rows, length = new_mask.shape
        if self.cache is None or self.rows == 0:
            self.cache, self.mask = cache, new_mask
            return range(start, start + rows)
        common = max(self.length, length)
        grow_batch, grow_new = common - self.length, common - length
        for mine, theirs in zip(_layers(self.cache), _layers(cache), strict=True):
            mine.keys = torch.cat(
                [_pad_left(mine.keys, grow_batch, 2), _pad_left(theirs.keys, grow_new, 2)]
            )
            mine.values = torch.cat(
                [_pad_left(mine.values, grow_batch, 2), _pad_left(theirs.values, grow_new, 2)]
            )
            if hasattr(mine, "cumulative_length"):
                mine.cumulative_length = common
        self.mask = torch.cat(
            [_pad_left(self.mask, grow_batch, 1), _pad_left(new_mask, grow_new, 1)]
        )
        return range(start, start + rows)

    def snapshot(self) -> tuple:
        """The batch as it is now, to put back after a forward pass that raised.

        A forward pass grows each layer's keys and values by concatenation (new tensors), so
        holding the current tensors is enough: a pass that fails half-way through the layers
        leaves some layers one token longer than others, and `restore` undoes that.
        """
        layers = (
            []
            if self.cache is None
            else [
                (layer, layer.keys, layer.values, getattr(layer, "cumulative_length", None))
                for layer in _layers(self.cache)
            ]
        )
        return self.cache, self.mask, layers

    def restore(self, snapshot: tuple) -> None:
        """Put back the batch that `snapshot` saw."""
        self.cache, self.mask, layers = snapshot
        for layer, keys, values, length in layers:
            layer.keys, layer.values = keys, values
            if length is not None:
                layer.cumulative_length = length

    def positions(self) -> list[int]:
        """Each row's next position: how many real tokens it already holds."""
        return self.mask.sum(dim=1).tolist()

    def select(self, index: list[int]) -> None:
        """Keep rows `index` in this order (rows may repeat; absent rows leave)."""
        if index == list(range(self.rows)):
            return
        if not index:
            self.cache, self.mask = None, self.mask[:0, :0]
            return
        chosen = torch.tensor(index, dtype=torch.long, device=self.device)
        self.cache.reorder_cache(chosen)
        self.mask = self.mask.index_select(0, chosen)
        self._trim()

    def _trim(self) -> None:
        """Drop leading columns that are padding for every row (after long rows leave)."""
        real = self.mask.any(dim=0).nonzero()
        first = int(real[0]) if real.numel() else self.length
        if first == 0:
            return
        for layer in _layers(self.cache):
            layer.keys = layer.keys[:, :, first:]
            layer.values = layer.values[:, :, first:]
            if hasattr(layer, "cumulative_length"):
                layer.cumulative_length = self.length - first
        self.mask = self.mask[:, first:]

    def step_inputs(self, tokens: list[int]) -> dict[str, torch.Tensor]:
        """Model arguments for one new token per row."""
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device).view(-1, 1)  # [rows, 1]
        positions = self.mask.sum(dim=1, keepdim=True)  # [rows, 1]: real tokens so far
        self.mask = torch.cat([self.mask, torch.ones_like(ids)], dim=1)  # [rows, length + 1]
        return {"input_ids": ids, "attention_mask": self.mask, "position_ids": positions}
