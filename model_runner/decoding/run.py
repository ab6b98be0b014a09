"""Decode one request with the method its parameters name."""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.beam import BeamStepper
from model_runner.decoding.contrastive import ContrastiveStepper
from model_runner.decoding.greedy import greedy_stepper
from model_runner.decoding.sampling import sampling_stepper
from model_runner.decoding.stepping import Stepper, run_solo
from model_runner.protocol import DecodingMethod, DecodingParams


def stepper_for(
    params: DecodingParams,
    eos_token_id: int | None,
    pad_token_id: int | None = None,
    device: torch.device | str = "cpu",
) -> Stepper:
    """The stepper that decodes with `params`."""
    max_new, ngram, least = (
        params.max_new_tokens,
        params.no_repeat_ngram_size,
        params.min_new_tokens,
    )
    match params.method:
        case DecodingMethod.GREEDY:
            return greedy_stepper(
                max_new_tokens=max_new,
                eos_token_id=eos_token_id,
                no_repeat_ngram_size=ngram,
                min_new_tokens=least,
            )
        case DecodingMethod.BEAM:
            return BeamStepper(
                max_new_tokens=max_new,
                eos_token_id=eos_token_id,
                pad_token_id=pad_token_id,
                num_beams=params.num_beams,
                length_penalty=params.length_penalty,
                no_repeat_ngram_size=ngram,
                min_new_tokens=least,
            )
        case DecodingMethod.CONTRASTIVE:
            return ContrastiveStepper(
                max_new_tokens=max_new,
                eos_token_id=eos_token_id,
                penalty_alpha=params.penalty_alpha,
                top_k=params.resolved_top_k,
                no_repeat_ngram_size=ngram,
                min_new_tokens=least,
            )
        case DecodingMethod.SAMPLING:
            return sampling_stepper(
                device=device,
                max_new_tokens=max_new,
                eos_token_id=eos_token_id,
                temperature=params.temperature,
                top_k=params.resolved_top_k,
                top_p=params.top_p,
                seed=params.seed,
                no_repeat_ngram_size=ngram,
                min_new_tokens=least,
            )
    raise ValueError(f"unknown decoding method {params.method!r}")


def generate(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    params: DecodingParams,
    eos_token_id: int | None,
    pad_token_id: int | None = None,
) -> list[int]:
    """The new token ids for the prompt `input_ids` (EOS included as the last, if produced)."""
    device = next(model.parameters()).device
    return run_solo(model, input_ids, stepper_for(params, eos_token_id, pad_token_id, device))
