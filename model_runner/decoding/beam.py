"""Beam search: keep the `num_beams` most likely partial continuations, return the best one.

It follows transformers' beam search (v4.50+ / v5) exactly, so the tokens match its
`generate(num_beams=..., do_sample=False)` with `early_stopping=False`:

- a beam's score is the sum of its tokens' log-probabilities (after the n-gram ban);
- each step looks at the 2 * num_beams best (beam, token) continuations. Those that end
  (EOS, or the length limit) among the first num_beams become finished hypotheses, scored
  sum / generated_length ** length_penalty (EOS counted); the best num_beams that did not
  end carry on;
- the num_beams best finished hypotheses are kept. A finished one can only enter the list
  while the search may still improve: the search stops once all num_beams slots are filled
  and the best running beam, divided by its current length ** length_penalty, cannot beat
  the worst of them. Slots never filled hold placeholders scored -1e9, as in transformers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model_runner.decoding.forward import forward, prompt_tensor
from model_runner.decoding.processing import ban_repeated_ngrams

NEG = -1.0e9  # transformers' "impossible" score; added, not assigned, to keep its rounding


@torch.inference_mode()
def beam_search(
    model: torch.nn.Module,
    input_ids: Sequence[int] | torch.Tensor,
    *,
    max_new_tokens: int,
    eos_token_id: int | None,
    pad_token_id: int | None = None,
    num_beams: int = 5,
    length_penalty: float = 1.0,
    no_repeat_ngram_size: int = 0,
) -> list[int]:
    """The new token ids of the best finished hypothesis (ending with EOS if it has one)."""
    prompt = prompt_tensor(model, input_ids)  # [1, prompt]
    device = prompt.device
    prompt_len = prompt.shape[1]
    max_len = prompt_len + max_new_tokens
    keep = 2 * num_beams  # continuations looked at per step
    in_top = torch.arange(keep, device=device) < num_beams  # [keep]
    fill = pad_token_id if pad_token_id is not None else (eos_token_id or 0)

    # Running beams: token ids so far (padded to max_len) and summed log-probs.
    running = torch.full((num_beams, max_len), fill, dtype=torch.long, device=device)
    running[:, :prompt_len] = prompt
    running_scores = torch.zeros(num_beams, device=device)  # [beams]
    running_scores[1:] = NEG  # all beams start equal: only the first may extend at step one
    # Finished hypotheses: ids, length-penalised scores, generated length, real or placeholder.
    finished = running.clone()  # [beams, max_len]
    finished_scores = torch.full((num_beams,), NEG, device=device)  # [beams]
    finished_len = torch.zeros(num_beams, dtype=torch.long, device=device)  # [beams]
    is_finished = torch.zeros(num_beams, dtype=torch.bool, device=device)  # [beams]

    step = forward(model, running[:, :prompt_len])  # every beam holds the prompt
    cur_len = prompt_len
    while True:
        log_probs = torch.log_softmax(step.logits, dim=-1)  # [beams, vocab]
        if no_repeat_ngram_size:
            sequences = running[:, :cur_len].tolist()
            log_probs = ban_repeated_ngrams(log_probs, sequences, no_repeat_ngram_size)
        vocab = log_probs.shape[-1]
        totals = (log_probs + running_scores[:, None]).reshape(-1)  # [beams * vocab]

        # The best `keep` continuations over all beams.
        top_scores, top_index = torch.topk(totals, keep)  # [keep]
        source = top_index // vocab  # [keep] which beam each continues
        candidates = running[source]  # [keep, max_len]
        candidates[:, cur_len] = top_index % vocab
        ends = torch.zeros(keep, dtype=torch.bool, device=device)  # [keep]
        if eos_token_id is not None:
            ends |= candidates[:, cur_len] == eos_token_id
        if cur_len + 1 >= max_len:
            ends[:] = True

        # The best num_beams continuations that did not end go on running.
        carry_scores = top_scores + ends.to(torch.float32) * NEG  # [keep]
        chosen = torch.topk(carry_scores, num_beams)[1]  # [beams]
        running = candidates[chosen]
        running_scores = carry_scores[chosen]
        parents = source[chosen]  # [beams] for reordering the cache

        # Newly finished hypotheses compete with the finished ones for the num_beams slots.
        just_finished = ends & in_top  # [keep]
        penalised = top_scores / ((cur_len + 1 - prompt_len) ** length_penalty)
        penalised = penalised + (~just_finished).to(torch.float32) * NEG
        merged_scores = torch.cat((finished_scores, penalised))  # [beams + keep]
        best = torch.topk(merged_scores, num_beams)[1]  # [beams]
        finished = torch.cat((finished, candidates))[best]
        finished_scores = merged_scores[best]
        new_len = torch.full((keep,), cur_len + 1 - prompt_len, device=device)
        finished_len = torch.cat((finished_len, new_len))[best]
        is_finished = torch.cat((is_finished, just_finished))[best]

        cur_len += 1
        may_improve = _may_improve(
            running_scores, finished_scores, is_finished, cur_len - prompt_len, length_penalty
        )
        if not may_improve or bool(ends.all()):
            break
        step.cache.reorder_cache(parents)
        step = forward(model, running[:, cur_len - 1 : cur_len], step.cache)

    return finished[0, prompt_len : prompt_len + int(finished_len[0])].tolist()


def _may_improve(
    running_scores: torch.Tensor,
    finished_scores: torch.Tensor,
    is_finished: torch.Tensor,
    generated: int,
    length_penalty: float,
) -> bool:
    """transformers' heuristic (early_stopping=False): can the best running beam still win?"""
    best_possible = running_scores[:1] / (generated**length_penalty)  # [1]
    worst = torch.where(is_finished, finished_scores.min(), NEG)  # [beams]
    return bool(torch.any(best_possible > worst))
