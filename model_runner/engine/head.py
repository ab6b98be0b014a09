"""The vocabulary projection of the engine's forward passes, done the fastest of three ways.

A model's output layer multiplies every row's last hidden state by the whole vocabulary:
[rows, hidden] x [hidden, vocabulary], GPT-2's largest matrix product (50,257 outputs). On
CPUs, MKL runs that shape (few rows, very many outputs) well below its speed at the layers'
shapes. The same product computed transposed, a block of the vocabulary at a time
([block, hidden] x [hidden, rows]), gives the same numbers 1.5-1.8x faster in float32 on the
lab's 2-core machine, and slower in bfloat16 there; oneDNN, through a copy of the weight in its
own layout (engine/products.py), was faster again: 15 ms for GPT-2's projection of 40 rows,
against 27 ms by blocks and 38 ms plain. So the engine measures the ways once per output
layer, on its first pass with enough rows, and keeps the fastest; small models keep the
model's own.

The model still runs its own forward pass (masks, positions, the cache, peft's per-row
adapter routing): a hook hands its output layer zero rows and keeps the hidden states, which
`project` then multiplies. Only output layers known to compute exactly `hidden @ weight.T`
(no bias, no adapter of their own, logits not rescaled by the model afterwards, or rescaled
in a way repeated here) are taken over; any other model is left to compute its own logits.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from model_runner.decoding.processing import take_rows
from model_runner.engine import products

log = logging.getLogger(__name__)

BLOCK = 2048  # vocabulary rows per block of the transposed product
# The way measured for an output layer, by number format: a later engine over the same model
# (a reloaded runner, a benchmark's next run) keeps it instead of measuring again.
_measured: weakref.WeakKeyDictionary[torch.nn.Module, dict[torch.dtype, str]] = (
    weakref.WeakKeyDictionary()
)
MEASURE_MIN_ROWS = 8  # the first pass with this many rows measures both ways
MEASURE_MIN_SIZE = 4_000_000  # vocabulary x hidden; below it the model's own way is kept

# Causal-LM classes whose logits are exactly output_layer(hidden) (Gemma: then soft-capped).
TAKEN_OVER = {
    "GPT2LMHeadModel",
    "Gemma3ForCausalLM",
    "Gemma2ForCausalLM",
    "LlamaForCausalLM",
    "MistralForCausalLM",
    "Qwen2ForCausalLM",
    "Qwen3ForCausalLM",
}


@dataclass
class Held:
    """What the hook kept of one forward pass: the last position's hidden states."""

    hidden: torch.Tensor | None = None  # [rows, hidden]
    layer: torch.nn.Linear | None = None  # the output layer that would have multiplied them
    cap: float | None = None  # the model's logit soft-capping (Gemma), None for none


def _base(model: Any) -> Any:
    """The transformers model under a peft wrapper (or the model itself)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def output_layer(model: Any) -> torch.nn.Linear | None:
    """The model's output layer when this module may compute its logits, else None."""
    base = _base(model)
    if type(base).__name__ not in TAKEN_OVER:
        return None
    layer = base.get_output_embeddings()
    if type(layer) is not torch.nn.Linear or layer.bias is not None:
        return None  # a peft-wrapped output layer, or one with a bias: the model's own way
    return layer


def blocked_product(weight: torch.Tensor, hidden: torch.Tensor, block: int = BLOCK) -> torch.Tensor:
    """hidden @ weight.T ([rows, vocabulary]), computed transposed a block at a time."""
    out = hidden.new_empty(hidden.shape[0], weight.shape[0])
    columns = hidden.t()
    for first in range(0, weight.shape[0], block):
        out[:, first : first + block] = torch.mm(weight[first : first + block], columns).t()
    return out


class StepLogits:
    """One pass's logits [rows computed, vocabulary], looked up by the batch's row numbers."""

    def __init__(self, logits: torch.Tensor, where: dict[int, int] | None = None) -> None:
        self.tensor = logits
        self.where = where  # batch row -> row of `tensor`; None: the same numbers

    @property
    def computed(self) -> int:
        return self.tensor.shape[0]

    def of(self, rows: list[int]) -> torch.Tensor:
        """[len(rows), vocabulary] (raises KeyError for a row that was not computed): a view
        when the rows are consecutive (a beam request's), else a copy."""
        if self.where is not None:
            rows = [self.where[row] for row in rows]
        return take_rows(self.tensor, rows)


class VocabularyHead:
    """Computes a model's logits from its last hidden states, the faster way once measured."""

    def __init__(self, block: int = BLOCK, way: str | None = None) -> None:
        self.block = block
        self.way = way  # "linear", "blocks" or "packed"; None until measured

    @contextlib.contextmanager
    def deferred(self, model: Any) -> Iterator[Held]:
        """Within this block the model's output layer sees zero rows; the hidden states it
        would have multiplied are kept in the yielded `Held`. Only this thread's passes are
        changed (a pass another thread makes over the same model meanwhile computes its own
        logits). A model whose output layer is not taken over runs unchanged (and
        `Held.hidden` stays None)."""
        layer = output_layer(model)
        cap = getattr(getattr(_base(model), "config", None), "final_logit_softcapping", None)
        held = Held(layer=layer, cap=cap)
        if layer is None:
            yield held
            return

        owner = threading.get_ident()

        def keep(_module: Any, args: tuple[Any, ...]) -> tuple[Any, ...] | None:
            if threading.get_ident() != owner:
                return None  # another thread's pass over the same model: left alone
            hidden = args[0]  # [rows, positions kept, hidden]
            held.hidden = hidden[:, -1]
            return (hidden[:0], *args[1:])

        handle = layer.register_forward_pre_hook(keep)
        try:
            yield held
        finally:
            handle.remove()

    def logits(self, out: Any, held: Held, rows: list[int] | None = None) -> StepLogits:
        """The float logits of the last position of a pass run `deferred`: of `rows` only, in
        their order, when the hidden states were kept (rows no stepper reads are not projected;
        a request's rows listed together are looked up as a view), else the model's own, of
        every row."""
        if held.hidden is None or held.layer is None:
            return StepLogits(out.logits[:, -1, :].float())
        if rows is None or rows == list(range(held.hidden.shape[0])):
            return StepLogits(self.project(held, held.hidden).float())
        index = torch.tensor(rows, device=held.hidden.device)
        projected = self.project(held, held.hidden.index_select(0, index)).float()
        return StepLogits(projected, {row: i for i, row in enumerate(rows)})

    def project(self, held: Held, hidden: torch.Tensor) -> torch.Tensor:
        """[rows, vocabulary] logits of `hidden` [rows, hidden] through `held`'s output layer
        (soft-capped as the model does)."""
        assert held.layer is not None
        weight = held.layer.weight
        if self.way is None:
            self.way = _measured.get(held.layer, {}).get(weight.dtype)
        if self.way is None and hidden.shape[0] >= MEASURE_MIN_ROWS:
            self.way = self._measure(held.layer, hidden)
            _measured.setdefault(held.layer, {})[weight.dtype] = self.way
        packed = products.pack(held.layer) if self.way == "packed" else None
        reordered = packed.weight(held.layer) if packed is not None else None
        if reordered is not None and hidden.dtype == torch.float32:
            logits = products.product(hidden, reordered, None)
        elif self.way == "blocks":
            logits = blocked_product(weight, hidden, self.block)
        else:
            logits = torch.nn.functional.linear(hidden, weight)
        if held.cap is not None:
            logits = torch.tanh(logits / held.cap) * held.cap
        return logits

    def _measure(self, layer: torch.nn.Linear, hidden: torch.Tensor) -> str:
        """The fastest way for this model, device and number format (each timed twice)."""
        weight = layer.weight
        if weight.numel() < MEASURE_MIN_SIZE:
            return "linear"
        ways = {
            "linear": lambda: torch.nn.functional.linear(hidden, weight),
            "blocks": lambda: blocked_product(weight, hidden, self.block),
        }
        packed = products.pack(layer) if hidden.dtype == torch.float32 else None
        reordered = packed.weight(layer) if packed is not None else None
        if reordered is not None:
            ways["packed"] = lambda: products.product(hidden, reordered, None)
        best = {name: float("inf") for name in ways}
        for _ in range(2):
            for name, way in ways.items():
                start = time.perf_counter()
                way()
                if hidden.device.type == "cuda":
                    torch.cuda.synchronize(hidden.device)
                best[name] = min(best[name], time.perf_counter() - start)
        chosen = min(best, key=best.__getitem__)
        timings = ", ".join(f"{name} {seconds * 1e3:.1f} ms" for name, seconds in best.items())
        log.info("vocabulary projection: %s (%s at %d rows)", chosen, timings, hidden.shape[0])
        if chosen != "packed":
            products.forget(layer)  # its reordered copy is not used: memory back
        return chosen
