"""Alignment on preference pairs: Direct Preference Optimisation (DPO) of a LoRA adapter.

Rafailov et al., 2023, "Direct Preference Optimization: Your Language Model is Secretly a
Reward Model". RLHF trains a reward model on people's preferences, then the language model
against it; DPO skips the reward model. For a prompt x, a chosen response y_w and a rejected
one y_l, with the model being trained pi (the policy) and the frozen pre-trained model ref,

    loss = -log sigmoid(beta * ((log pi(y_w|x) - log ref(y_w|x))
                                - (log pi(y_l|x) - log ref(y_l|x))))

where log pi(y|x) sums the log-probabilities of the response's tokens only (the prompt's are
given). `beta * (log pi - log ref)` is the policy's implicit reward of a response; the loss
pushes the chosen response's reward above the rejected one's, and beta keeps the policy near
the reference. Here the policy is the base model with a LoRA adapter (Hu et al., 2021), so
the reference is the same model with the adapter switched off (peft's `disable_adapter()`):
its log-probabilities are computed once, before the first step. LoRA starts with B = 0, so
at step 0 the policy is exactly the reference and the loss is log 2 for every pair.

Training runs one slice per `next()`, between the class's decode steps, on a private copy of
the base model in float32, without dropout (the policy must be measured as the reference is).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from peft import LoraConfig, get_peft_model

from model_runner.finetune.evaluation import weight_counts
from model_runner.finetune.trainer import TrainingProgress, clean_copy
from model_runner.protocol import AlignmentParams, PreferenceAgreement, PreferencePair

MEASURE_BATCH = 8  # pairs per slice when measuring log-probabilities (no gradients)


def dpo_loss(
    policy_chosen: torch.Tensor,
    policy_rejected: torch.Tensor,
    reference_chosen: torch.Tensor,
    reference_rejected: torch.Tensor,
    beta: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """DPO's loss per pair, and the implicit reward margin per pair (all [pairs]).

    Each input is a response's summed log-probability under the policy or the reference.
    """
    margin = beta * ((policy_chosen - reference_chosen) - (policy_rejected - reference_rejected))
    return -F.logsigmoid(margin), margin


@dataclass(frozen=True)
class PairTokens:
    """Chosen rows then rejected rows of some pairs, right-padded."""

    input_ids: torch.Tensor  # [2 * pairs, tokens]
    attention_mask: torch.Tensor  # [2 * pairs, tokens]
    response_mask: torch.Tensor  # [2 * pairs, tokens]: 1 on the response's tokens


def _row(tokenizer, prompt: str, response: str, max_length: int) -> tuple[list[int], int]:
    """Prompt then response token ids (tokenised apart, so the boundary is exact), cut to
    `max_length`: the response keeps its start, the prompt its end. Returns (ids, prompt
    tokens)."""
    response_ids = tokenizer(response)["input_ids"][: max_length - 1]
    prompt_ids = tokenizer(prompt)["input_ids"][-(max_length - len(response_ids)) :]
    return prompt_ids + response_ids, len(prompt_ids)


def pair_tokens(
    tokenizer, pairs: list[PreferencePair], max_length: int, device: torch.device
) -> PairTokens:
    """The pairs as one batch: rows 0..n-1 the chosen responses, n..2n-1 the rejected."""
    rows = [_row(tokenizer, p.prompt, p.chosen, max_length) for p in pairs]
    rows += [_row(tokenizer, p.prompt, p.rejected, max_length) for p in pairs]
    width = max(len(ids) for ids, _ in rows)
    pad = tokenizer.pad_token_id or 0
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    response = torch.zeros((len(rows), width), dtype=torch.long)
    for n, (ids, prompt_length) in enumerate(rows):
        input_ids[n, : len(ids)] = torch.tensor(ids)
        attention[n, : len(ids)] = 1
        response[n, prompt_length : len(ids)] = 1
    return PairTokens(input_ids.to(device), attention.to(device), response.to(device))


def response_log_probs(model: torch.nn.Module, batch: PairTokens) -> torch.Tensor:
    """Each row's log-probability of its response: the sum over the response's tokens of
    log p(token | everything before it). [rows]"""
    logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    # Position t predicts token t + 1: [rows, tokens - 1, vocabulary] against [rows, tokens - 1].
    per_token = -F.cross_entropy(
        logits[:, :-1].float().transpose(1, 2), batch.input_ids[:, 1:], reduction="none"
    )
    return (per_token * batch.response_mask[:, 1:]).sum(dim=1)


@dataclass
class AlignmentProgress(TrainingProgress):
    """A DPO run's progress; `agreement` once the trained policy has been measured."""

    agreement: PreferenceAgreement | None = None


def _lora(params: AlignmentParams) -> LoraConfig:
    """Rank r, alpha 2r, no dropout: the policy is measured exactly as it trains."""
    return LoraConfig(
        r=params.rank, lora_alpha=2 * params.rank, lora_dropout=0.0, task_type="CAUSAL_LM"
    )


def _batches(pairs: int, params: AlignmentParams) -> list[list[int]]:
    """Pair indices of every optimiser step: each epoch shuffled (from the seed)."""
    generator = torch.Generator().manual_seed(params.seed)
    steps = []
    for _ in range(params.epochs):
        order = torch.randperm(pairs, generator=generator).tolist()
        steps += [order[i : i + params.batch_size] for i in range(0, pairs, params.batch_size)]
    return steps


def preference_steps(
    base_model: torch.nn.Module,
    tokenizer,
    pairs: list[PreferencePair],
    params: AlignmentParams,
    progress: AlignmentProgress,
    on_start: Callable[[], None] = lambda: None,
) -> Iterator[torch.nn.Module]:
    """Yield after every slice (measuring or one optimiser step); the last yield is the
    trained peft model, measured: `progress.agreement` says how often it prefers the chosen
    responses, against how often the pre-trained model did."""
    torch.manual_seed(params.seed)
    model = get_peft_model(clean_copy(base_model).float(), _lora(params))
    model.eval()  # no dropout, in the reference's passes and the policy's alike
    device = next(model.parameters()).device
    steps = _batches(len(pairs), params)
    progress.total_steps = len(steps)
    progress.evaluation.trained_weights, progress.evaluation.total_weights = weight_counts(model)
    on_start()

    def measure(with_adapter: bool) -> Iterator[list[tuple[float, float]]]:
        for start in range(0, len(pairs), MEASURE_BATCH):
            chunk = pairs[start : start + MEASURE_BATCH]
            batch = pair_tokens(tokenizer, chunk, params.max_length, device)
            with torch.no_grad():
                if with_adapter:
                    scores = response_log_probs(model, batch)
                else:
                    with model.disable_adapter():  # the frozen pre-trained model
                        scores = response_log_probs(model, batch)
            n = len(chunk)
            yield list(zip(scores[:n].tolist(), scores[n:].tolist(), strict=True))

    reference: list[tuple[float, float]] = []
    for measured in measure(with_adapter=False):
        reference += measured
        yield model
    ref = torch.tensor(reference, device=device)  # [pairs, 2]: chosen, rejected
    optimiser = torch.optim.AdamW(
        [p for p in model.parameters() if p.requires_grad], lr=params.learning_rate
    )
    progress.started = time.perf_counter()
    for indices in steps:
        batch = pair_tokens(tokenizer, [pairs[i] for i in indices], params.max_length, device)
        with torch.enable_grad():
            scores = response_log_probs(model, batch)
            n = len(indices)
            chosen_ref, rejected_ref = ref[indices, 0], ref[indices, 1]
            losses, _ = dpo_loss(scores[:n], scores[n:], chosen_ref, rejected_ref, params.beta)
            loss = losses.mean()
            loss.backward()
            optimiser.step()
            optimiser.zero_grad(set_to_none=True)
        progress.record(float(loss.detach()))
        yield model
    after: list[tuple[float, float]] = []
    for measured in measure(with_adapter=True):
        after += measured
        yield model
    progress.agreement = agreement(reference, after, params.beta)
    yield model


def agreement(
    reference: list[tuple[float, float]], policy: list[tuple[float, float]], beta: float
) -> PreferenceAgreement:
    """How often each model prefers the chosen response, from (chosen, rejected) summed
    log-probabilities per pair, and the policy's implicit reward margins."""
    margins = [
        beta * ((pc - rc) - (pr - rr)) for (rc, rr), (pc, pr) in zip(reference, policy, strict=True)
    ]
    return PreferenceAgreement(
        pairs=len(reference),
        preferred_before=sum(1 for chosen, rejected in reference if chosen > rejected),
        preferred_after=sum(1 for chosen, rejected in policy if chosen > rejected),
        margin_positive=sum(1 for m in margins if m > 0),
        mean_margin=round(sum(margins) / len(margins), 4) if margins else 0.0,
    )


def alignment_record(
    adapter: str,
    base_model: str,
    pairs: list[PreferencePair],
    params: AlignmentParams,
    progress: AlignmentProgress,
) -> dict:
    """What `training.json` says of an aligned adapter: the pairs, the settings, the result."""
    return {
        "adapter": adapter,
        "base_model": base_model,
        "method": "dpo",
        "pairs": [pair.to_dict() for pair in pairs],
        "params": params.to_dict(),
        "losses": list(progress.losses),
        "preference": progress.agreement.to_dict() if progress.agreement else None,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
