"""One forward pass with the KV cache, called the way transformers' `generate()` calls it.

Matching generate's call (a full attention mask, logits for the last position only, float32
logits) keeps the numbers bit-identical to its own, so the tests can compare exact tokens.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from model_runner.kv_cache import cache_argument, returned_cache
from model_runner.protocol import InvalidRequest


@dataclass
class Step:
    """What one forward pass returns."""

    logits: torch.Tensor  # [batch, vocab] float32, for the token after the last input
    cache: Any  # the model's KV cache (a transformers Cache), now covering the inputs too
    hidden: torch.Tensor | None  # [batch, new tokens, hidden] last layer, when asked for


_KEEPS_LAST_LOGITS: dict[type[torch.nn.Module], bool] = {}


def _keeps_last_logits(model_class: type[torch.nn.Module]) -> bool:
    """Whether the model can compute logits for the last position only, as generate asks."""
    keeps = _KEEPS_LAST_LOGITS.get(model_class)
    if keeps is None:
        keeps = "logits_to_keep" in inspect.signature(model_class.forward).parameters
        _KEEPS_LAST_LOGITS[model_class] = keeps
    return keeps


def forward(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    cache: Any = None,
    *,
    hidden: bool = False,
    adapter_names: list[str] | None = None,
) -> Step:
    """Run `input_ids` ([batch, new tokens]) after what `cache` holds; None starts afresh.

    `adapter_names` (one per row) picks each row's LoRA adapter on a peft model.
    """
    past = cache.get_seq_length() if cache is not None else 0
    batch, new = input_ids.shape
    mask = torch.ones(batch, past + new, dtype=torch.long, device=input_ids.device)
    kwargs: dict[str, Any] = {}
    if _keeps_last_logits(type(model)):
        kwargs["logits_to_keep"] = 1
    if adapter_names is not None:
        kwargs["adapter_names"] = adapter_names
    outputs = model(
        input_ids=input_ids,
        attention_mask=mask,
        **cache_argument(cache),
        use_cache=True,
        output_hidden_states=hidden,
        return_dict=True,
        **kwargs,
    )
    logits = outputs.logits[:, -1, :].to(copy=True, dtype=torch.float32)  # [batch, vocab]
    last_hidden = outputs.hidden_states[-1] if hidden else None  # [batch, new, hidden]
    return Step(logits=logits, cache=returned_cache(outputs), hidden=last_hidden)


def prompt_tensor(model: torch.nn.Module, input_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
    """The prompt as a `[1, length]` long tensor on the model's device."""
    ids = torch.as_tensor(input_ids, dtype=torch.long).reshape(1, -1)  # [1, prompt]
    if ids.shape[1] == 0:
        raise InvalidRequest("the prompt must contain at least one token", field="prompt")
    return ids.to(next(model.parameters()).device)
