"""The rows decoded together: one preallocated KV cache that every row writes into.

Each layer's keys and values are a `[row capacity, heads, column capacity, head dim]` view of
one stacked buffer (`[layers x 2, rows, heads, columns, dim]`, one per shape: GPT-2 and Gemma
have one), so moving a row is one copy, not one per layer. The rows in use are the first
`rows`, the columns in use `start:end`, and every row's
text ends at column `end` (shorter texts are padded on the left). A step writes one column of
every row in place and the model attends over views of the buffers: no layer's cache is
concatenated or copied per step. Rows join with their own prefilled cache, copied in once;
when beam and contrastive search pick parents only the rows whose parent is another row are
copied (`select`, of a row taking over another of its own request's only the columns in
which they differ: engine/lineage.py), and the engine then says which columns each row holds
alike with its request's first row (`share`), which the attention reads once for the request
(`sharing`); rows leave when their request finishes and the rows after the last one in use
are filled in from the end. Joining prompts say how many rows and columns they will need
(`add`), so the buffers are laid out for them once; only the rows in use are written (zeroed
in full when taken into use, so that attention.py may read whole buffers; untouched memory
costs nothing on a CPU), they sit on huge pages where Linux allows it (pages.py: filling them
costs few page faults). When the batch empties its buffers are kept as spares, which the next
layout reuses (the smallest that holds it, kept whole; the others are let go before new
memory is asked for): a class's next burst writes into memory already
faulted in (a fresh 480 MB layout cost 0.3-1.2 s of system time on the 2-core machine, on
first touch), and the engine drops the spares (`drop_spares`) before background work such as
a fine-tune and after a minute without requests, so the memory goes back. The attention mask
hides the padding and each row's position ids count only its real tokens, so a row computes
what it would alone (up to floating-point summation order).

Sliding-window layers (Gemma 3) keep every column too and show the model the last ones, in
the shapes transformers' own sliding-window layer reports.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from transformers.cache_utils import Cache, CacheLayerMixin, DynamicLayer

from model_runner.engine.pages import huge_empty
from model_runner.protocol import RunnerError

try:  # transformers 5 names its sliding-window layer this way
    from transformers.cache_utils import DynamicSlidingWindowLayer
except ImportError:  # pragma: no cover - older releases
    DynamicSlidingWindowLayer = None  # type: ignore[assignment,misc]

MIN_ROWS = 8  # the smallest row capacity
SPARE_COLUMNS = 32  # room for this many more steps whenever the columns are laid out anew


def _window(layer: Any) -> int | None:
    """A prefilled layer's sliding window (None: full attention); refuses other kinds."""
    if type(layer) is DynamicLayer:
        return None
    if DynamicSlidingWindowLayer is not None and type(layer) is DynamicSlidingWindowLayer:
        return int(layer.sliding_window)
    raise RunnerError(
        f"the batching engine cannot hold this model's cache ({type(layer).__name__})"
    )


class _BufferedLayer(CacheLayerMixin):
    """One layer's part of the batch's buffers, shown to the model's attention as a cache."""

    is_compileable = False
    supports_early_init = False

    def __init__(self, batch: RowBatch, index: int, window: int | None) -> None:
        super().__init__()
        self.batch, self.index, self.window = batch, index, window
        self.is_sliding = window is not None
        if window is not None:
            self.sliding_window = window
        self.is_initialized = True

    def lazy_initialization(self, key_states: torch.Tensor, value_states: torch.Tensor) -> None:
        """Nothing to do: the buffers exist before the model is called."""

    def update(
        self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Write the new columns after `end` and return every visible column (views)."""
        batch = self.batch
        rows, end, new = batch.rows, batch.end, key_states.shape[-2]
        keys, values = batch.keys[self.index], batch.values[self.index]
        keys[:rows, :, end : end + new] = key_states  # [rows, heads, new, head dim]
        values[:rows, :, end : end + new] = value_states
        first = batch.start
        if self.window is not None:  # the last window - 1 columns, as transformers keeps them
            first = max(first, end - self.window + 1)
        return keys[:rows, :, first : end + new], values[:rows, :, first : end + new]

    def get_seq_length(self) -> int:
        return self.batch.length

    def get_mask_sizes(self, query: Any) -> tuple[int, int]:
        """(columns the attention sees, offset of the first), for the model's mask."""
        new = query if isinstance(query, int) else int(query.shape[0])
        length = self.batch.length
        if self.window is None:
            return length + new, 0
        return min(length, self.window - 1) + new, max(length - self.window + 1, 0)

    def get_max_length(self) -> int:
        return -1 if self.window is None else self.window


class RowBatch:
    """The shared cache, attention mask and positions of every active row."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.stacks: list[torch.Tensor] = []  # [tensors, row cap, heads, columns, dim] each
        self._slots: list[tuple[int, int]] = []  # keys 0..L-1, then values: (stack, index)
        self.keys: list[torch.Tensor] = []  # per layer [row capacity, heads, columns, dim]
        self.values: list[torch.Tensor] = []  # (views of the stacks)
        self.windows: list[int | None] = []  # per layer: sliding window, None for full
        self._mask = torch.zeros(0, 0, dtype=torch.long, device=device)  # [row cap, columns]
        self.cache: Any = None  # what the model is handed: views of the buffers
        self.rows = 0
        self.start = self.end = 0  # the columns in use
        self.spares: list[torch.Tensor] = []  # flat buffers of an emptied batch, for reuse
        self.ticks = 0  # decode steps taken: the column written at tick t is end - ticks + t
        # Rows holding their lead row's keys and values in every column written before a
        # tick: row -> (lead row, tick). Set after a `select` (`share`), forgotten at the next.
        self._alike: dict[int, tuple[int, int]] = {}
        self._whole: list[torch.Tensor] = []  # the whole flat buffer under each stack

    @property
    def length(self) -> int:
        return self.end - self.start

    @property
    def mask(self) -> torch.Tensor:
        """[rows, length] 1 for a real token, 0 for padding."""
        return self._mask[: self.rows, self.start : self.end]

    def _row_capacity(self) -> int:
        return self._mask.shape[0]

    def _column_capacity(self) -> int:
        return self._mask.shape[1]

    def column_capacity(self) -> int:
        """How many columns the buffers hold (in use or not)."""
        return self._column_capacity()

    def column_mask(self) -> torch.Tensor:
        """[row capacity, column capacity] 1 for a real token: of the rows in use, 0 outside
        the columns in use too (attention.py reads the whole buffers through it)."""
        return self._mask

    # --- layout -------------------------------------------------------------------------

    def _allocate(self, prefilled: Any, rows: int, columns: int, end: int) -> None:
        """First buffers, shaped like the layers of a prefilled cache."""
        layers = list(prefilled.layers)
        self.windows = [_window(layer) for layer in layers]
        shapes: dict[tuple[Any, ...], int] = {}  # (heads, dim, dtype) -> stack
        counts: list[int] = []
        self._slots = []
        for tensor in [layer.keys for layer in layers] + [layer.values for layer in layers]:
            shape = (tensor.shape[1], tensor.shape[3], tensor.dtype)
            if shape not in shapes:
                shapes[shape] = len(counts)
                counts.append(0)
            self._slots.append((shapes[shape], counts[shapes[shape]]))
            counts[shapes[shape]] += 1
        # Unwritten buffers: rows are zeroed when taken into use, before the model sees them.
        needs = [
            ((n, rows, heads, columns, dim), dtype)
            for n, (heads, dim, dtype) in zip(counts, shapes, strict=True)
        ]
        reused = [self._spare(shape, dtype) for shape, dtype in needs]
        self.spares = []  # those not reused go back before new memory is asked for
        self.stacks, self._whole = [], []
        for (layout, kind), spare in zip(needs, reused, strict=True):
            stack, whole = self._buffer(layout, kind, spare)
            self.stacks.append(stack)
            self._whole.append(whole)
        self._bind()
        self._mask = torch.zeros(rows, columns, dtype=torch.long, device=self.device)
        self.cache = self._views()
        self.start = self.end = end  # no columns in use yet; the first rows end at `end`

    def _bind(self) -> None:
        """Each layer's keys and values as views of the stacks."""
        views = [self.stacks[stack][index] for stack, index in self._slots]
        half = len(views) // 2
        self.keys, self.values = views[:half], views[half:]

    def _relayout(self, rows: int, columns: int, offset: int) -> None:
        """New buffers of `rows` x `columns`; the columns in use move to begin at `offset`."""
        used, length = self.rows, self.length
        span = slice(self.start, self.end)
        for i, old in enumerate(self.stacks):
            n, _, heads, _, dim = old.shape
            new, self._whole[i] = self._buffer((n, rows, heads, columns, dim), old.dtype)
            new[:, :used].zero_()  # the columns not in use too: whole buffers may be read
            new[:, :used, :, offset : offset + length] = old[:, :used, :, span]
            self.stacks[i] = new  # one stack at a time: the old one is freed at once
        self._bind()
        mask = torch.zeros(rows, columns, dtype=torch.long, device=self.device)
        mask[:used, offset : offset + length] = self._mask[:used, span]
        self._mask = mask
        self.start, self.end = offset, offset + length

    def _spare(self, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor | None:
        """The smallest spare that holds `shape` (taken out of the spares), or None."""
        size = math.prod(shape)
        fitting = [s for s in self.spares if s.dtype == dtype and s.numel() >= size]
        if not fitting:
            return None
        chosen = min(fitting, key=lambda spare: spare.numel())
        self.spares = [spare for spare in self.spares if spare is not chosen]
        return chosen

    def _buffer(
        self, shape: tuple[int, ...], dtype: torch.dtype, flat: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """An unwritten buffer of `shape` and the whole flat buffer under it: the front of
        `flat` where given (its old contents stay until rows are zeroed on being taken into
        use), else new memory."""
        if flat is None:
            flat = huge_empty(math.prod(shape), dtype=dtype, device=self.device)
        return flat[: math.prod(shape)].view(shape), flat

    def drop_spares(self) -> None:
        """Give the spare buffers' memory back."""
        self.spares = []

    def _views(self) -> Cache:
        """The cache the model is handed: one layer per buffer, reading this batch's rows."""
        return Cache(layers=[_BufferedLayer(self, i, w) for i, w in enumerate(self.windows)])

    def _release(self) -> None:
        """No rows left: the buffers become spares (the engine drops them when a fine-tune
        may need the memory, or after a while without requests)."""
        self.spares, self._whole = self._whole, []  # whole: a reused spare stays whole
        self.stacks, self.keys, self.values, self.windows, self.cache = [], [], [], [], None
        self._mask = self._mask[:0, :0]
        self._alike = {}
        self.rows = self.start = self.end = 0

    def _reserve(self, rows: int, room: int, before: int = 0) -> None:
        """Room for `rows` rows, `before` more columns before the first in use and `room`
        after the last; a new layout has rows for twice as many and 32 spare columns."""
        rows_short = rows > self._row_capacity()
        columns_short = self.start < before or self.end + room > self._column_capacity()
        if not (rows_short or columns_short):
            return
        capacity = self._row_capacity()
        new_rows = max(rows, 2 * capacity, MIN_ROWS) if rows_short else capacity
        if columns_short:  # the columns in use move to begin at `before`
            columns = before + self.length + max(room, SPARE_COLUMNS)
            self._relayout(new_rows, columns, before)
        else:
            self._relayout(new_rows, self._column_capacity(), self.start)

    # --- rows join, step, move and leave ------------------------------------------------

    def add(
        self,
        cache: Any,
        new_mask: torch.Tensor,
        *,
        rows: int = 0,
        room: int = 0,
        longest: int = 0,
    ) -> range:
        """Append the rows of a prefilled `cache` ([rows, length] mask, 0 = padding). `rows`:
        how many rows they will take once decoding (beams, candidates); `room`: how many
        more tokens they may add; `longest`: the longest prompt still to join with them
        (prompts prefilled in several passes). The buffers are laid out for all at once."""
        count, length = new_mask.shape
        first = self.rows
        rows = first + max(count, rows)
        room = max(room, 1)
        prefix = max(length, longest)
        if not self.stacks:
            self._allocate(cache, max(rows, MIN_ROWS), prefix + max(room, SPARE_COLUMNS), prefix)
        self._reserve(rows, room, before=max(prefix - self.length, 0))
        common = max(self.length, length)
        start, end, new = self.end - common, self.end, slice(first, first + count)
        if start < self.start:  # newly shown columns are padding for the rows already here
            self._clear(slice(0, first), slice(start, self.start))
        self._clear(new, slice(None))  # every column: whole buffers may be read
        self.start = start
        for layer, keys, values in zip(cache.layers, self.keys, self.values, strict=True):
            held = layer.keys.shape[2]  # a sliding-window layer holds only its last columns
            keys[new, :, end - held : end] = layer.keys
            values[new, :, end - held : end] = layer.values
        self._mask[new, end - length : end] = new_mask
        self.rows = first + count
        return range(first, first + count)

    def _clear(self, rows: slice, columns: slice) -> None:
        """Zero a block of every buffer (old rows' values must never reach a new row)."""
        for stack in self.stacks:
            stack[:, rows, :, columns] = 0
        self._mask[rows, columns] = 0

    def step_inputs(self, tokens: list[int]) -> dict[str, torch.Tensor]:
        """Model arguments for one new token per row (row order: the buffer's). The batch
        moves on only through `stepped()`, so a forward pass that raises leaves it as it was."""
        self._reserve(self.rows, 1)
        ids = torch.tensor(tokens, dtype=torch.long, device=self.device).view(-1, 1)  # [rows, 1]
        mask = self._mask[: self.rows, self.start : self.end + 1]  # [rows, length + 1]
        mask[:, -1] = 1
        positions = mask[:, :-1].sum(dim=1, keepdim=True)  # [rows, 1]: real tokens so far
        return {"input_ids": ids, "attention_mask": mask.contiguous(), "position_ids": positions}

    def stepped(self) -> None:
        """The forward pass of `step_inputs` succeeded: its column is now in use."""
        self.end += 1
        self.ticks += 1

    def share(self, rows: list[int], since: list[int]) -> None:
        """`rows` (a request's, after `select`): row k holds the same keys and values as the
        first of them in every column written before tick `since[k]`, so attention may read
        those columns from the first row alone (`sharing`), once for the whole request."""
        lead = rows[0]
        for row, tick in zip(rows[1:], since[1:], strict=True):
            if row != lead:
                self._alike[row] = (lead, tick)

    def sharing(self) -> tuple[list[int], list[int]]:
        """For each row in use, the row it reads its first columns from and where those end
        (an index into the buffer's columns): itself and 0 when it shares none."""
        lead, ends = list(range(self.rows)), [0] * self.rows
        for row, (source, tick) in self._alike.items():
            if row < self.rows and source < self.rows:
                end = self.end - max(self.ticks - tick, 0)
                lead[row], ends[row] = source, min(max(end, self.start), self.end)
        return lead, ends

    def positions(self) -> list[int]:
        """Each row's next position: how many real tokens it already holds."""
        return self.mask.sum(dim=1).tolist()

    def select(self, index: list[int], tails: dict[int, int] | None = None) -> None:
        """Row i becomes current row index[i] (rows may repeat; absent rows leave). Only the
        rows that change are copied, and of a row in `tails` only its last `tails[row]`
        columns (the caller knows the rest is equal already)."""
        self._alike = {}
        if not index:
            self._release()
            return
        self._reserve(len(index), 1)
        if len(index) > self.rows:  # rows taken into use: nothing of an earlier row stays
            self._clear(slice(self.rows, len(index)), slice(None))
        moved = [(row, source) for row, source in enumerate(index) if source != row]
        if moved:
            self._copy_rows(moved, tails or {})
        self.rows = len(index)
        self._trim()

    def _copy_rows(self, moved: list[tuple[int, int]], tails: dict[int, int]) -> None:
        """Each (row, source): row becomes a copy of source (of its last tails[row] columns)."""
        span = slice(self.start, self.end)
        stacks = [stack[:, :, :, span] for stack in self.stacks]  # [n, rows, heads, length, dim]
        mask = self._mask[:, span]
        if {row for row, _ in moved}.isdisjoint(source for _, source in moved):
            for row, source in moved:  # row by row: faster than an indexed write on CPU
                last = min(tails.get(row, self.length), self.length)
                first = self.length - last
                for stack in stacks:  # one copy moves the row's every layer
                    stack[:, row, :, first:].copy_(stack[:, source, :, first:])
                mask[row, first:].copy_(mask[source, first:])
        else:  # a row both read and overwritten: gather every source first
            targets = torch.tensor([row for row, _ in moved], device=self.device)
            sources = torch.tensor([source for _, source in moved], device=self.device)
            for stack in stacks:
                stack.index_copy_(1, targets, stack.index_select(1, sources))
            mask.index_copy_(0, targets, mask.index_select(0, sources))

    def _trim(self) -> None:
        """Drop leading columns that are padding for every row (after long rows leave)."""
        real = self.mask.any(dim=0).nonzero()
        self.start += int(real[0]) if real.numel() else self.length

    def clone_rows(self, rows: list[int]) -> RowBatch:
        """A separate batch holding copies of `rows` (to try them alone, leaving this one be)."""
        alone = RowBatch(self.device)
        if not rows:
            return alone
        chosen = torch.tensor(rows, dtype=torch.long, device=self.device)
        span = slice(self.start, self.end)
        alone.stacks = [stack[:, chosen, :, span] for stack in self.stacks]  # (indexing copies)
        alone._whole = [stack.view(-1) for stack in alone.stacks]
        alone._slots = list(self._slots)
        alone._bind()
        alone.windows = list(self.windows)
        alone._mask = self._mask[chosen, span]
        alone.cache = alone._views()
        alone.rows, alone.start, alone.end = len(rows), 0, self.length
        return alone
