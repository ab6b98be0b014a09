"""Decode one request with the method its parameters name."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.beam import beam_search
from model_runner.decoding.contrastive import contrastive_search
from model_runner.decoding.greedy import greedy_search
from model_runner.decoding.params import DecodingMethod, DecodingParams
from model_runner.decoding.sampling import sample


def generate(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    params: DecodingParams,
    eos_token_id: int | None,
    pad_token_id: int | None = None,
) -> list[int]:
    """The new token ids for the prompt `input_ids` (EOS included as the last, if produced)."""
    common = {
        "max_new_tokens": params.max_new_tokens,
        "eos_token_id": eos_token_id,
        "no_repeat_ngram_size": params.no_repeat_ngram_size,
    }
    match params.method:
        case DecodingMethod.GREEDY:
            return greedy_search(model, input_ids, **common)
        case DecodingMethod.BEAM:
            return beam_search(
                model,
                input_ids,
                pad_token_id=pad_token_id,
                num_beams=params.num_beams,
                length_penalty=params.length_penalty,
                **common,
            )
        case DecodingMethod.CONTRASTIVE:
            return contrastive_search(
                model,
                input_ids,
                penalty_alpha=params.penalty_alpha,
                top_k=params.top_k,
                **common,
            )
        case DecodingMethod.SAMPLING:
            return sample(
                model,
                input_ids,
                temperature=params.temperature,
                top_k=params.top_k,
                top_p=params.top_p,
                seed=params.seed,
                **common,
            )
    raise ValueError(f"unknown decoding method {params.method!r}")
