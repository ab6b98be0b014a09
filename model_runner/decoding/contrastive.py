"""Contrastive search (Su et al., 2022, "A Contrastive Framework for Neural Text Generation").

Each step takes the `top_k` most likely next tokens as candidates, runs the model once on
all of them, and picks the one with the best score

    (1 - alpha) * p(candidate) - alpha * max_j cos(h_candidate, h_j)

where h is the last layer's hidden state and j runs over every earlier position, prompt
included. The penalty pushes the model away from tokens whose representation repeats one
it has already produced, the usual cause of greedy search's loops. alpha = 0 is greedy
search; top_k = 1 is too. The details (probabilities after the n-gram ban, the max over all
positions, the first candidate winning ties) follow transformers 4.55's built-in version,
whose tokens it reproduces.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.forward import Step, forward, prompt_tensor
from model_runner.decoding.processing import ban_repeated_ngrams


def degeneration_penalty(context: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
    """Max cosine similarity of each candidate's hidden state with every context position."""
    # context: [k, positions, hidden] (one copy per candidate); candidates: [k, 1, hidden]
    context = context / context.norm(dim=2, keepdim=True)
    candidates = candidates / candidates.norm(dim=2, keepdim=True)
    cosine = torch.matmul(context, candidates.transpose(1, 2)).squeeze(-1)  # [k, positions]
    return cosine.max(dim=-1).values  # [k]


def rank_candidates(
    context: torch.Tensor, candidates: torch.Tensor, probs: torch.Tensor, alpha: float
) -> int:
    """Index of the candidate with the best contrastive score (the first on ties)."""
    # context: [1, positions, hidden]; candidates: [k, 1, hidden]; probs: [k]
    k = candidates.shape[0]
    penalty = degeneration_penalty(context.repeat_interleave(k, dim=0), candidates)  # [k]
    scores = (1.0 - alpha) * probs - alpha * penalty  # [k]
    return int(scores.view(1, k).max(dim=-1).indices[0])


@torch.inference_mode()
def contrastive_search(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    penalty_alpha: float = 0.6,
    top_k: int = 4,
    no_repeat_ngram_size: int = 0,
) -> list[int]:
    """The new token ids of contrastive search (ending with EOS when it was chosen)."""
    prompt = prompt_tensor(model, input_ids)  # [1, prompt]
    tokens = prompt[0].tolist()
    step = forward(model, prompt, hidden=True)
    assert step.hidden is not None
    context = step.hidden  # [1, positions, hidden], grows by one position per new token
    new: list[int] = []
    while True:
        scores = ban_repeated_ngrams(step.logits, [tokens], no_repeat_ngram_size)  # [1, vocab]
        top_probs, top_ids = torch.topk(scores.softmax(dim=-1), k=top_k, dim=-1)  # [1, k]

        # Run every candidate at once: one copy of the cache per candidate.
        step.cache.batch_repeat_interleave(top_k)
        tried = forward(model, top_ids.view(-1, 1), step.cache, hidden=True)
        assert tried.hidden is not None  # [k, 1, hidden]
        chosen = rank_candidates(context, tried.hidden, top_probs.view(-1), penalty_alpha)

        token = int(top_ids[0, chosen])
        context = torch.cat([context, tried.hidden[chosen : chosen + 1]], dim=1)
        tried.cache.batch_select_indices(torch.tensor([chosen], device=prompt.device))
        step = Step(logits=tried.logits[chosen : chosen + 1], cache=tried.cache, hidden=None)
        new.append(token)
        tokens.append(token)
        if token == eos_token_id or len(new) >= max_new_tokens:
            return new
