"""The KV cache's name in a model call: `cache` from the transformers releases that renamed
it (which warn about `past_key_values` and drop it in 5.40), `past_key_values` before them."""

from __future__ import annotations

from typing import Any

from transformers.modeling_outputs import CausalLMOutputWithPast

CACHE_NAME = (
    "cache" if "cache" in CausalLMOutputWithPast.__dataclass_fields__ else "past_key_values"
)


def cache_argument(cache: Any) -> dict[str, Any]:
    """The keyword argument that hands `cache` to a model call."""
    return {CACHE_NAME: cache}


def returned_cache(outputs: Any) -> Any:
    """The cache a model call returned (with `use_cache=True`)."""
    return getattr(outputs, CACHE_NAME)
