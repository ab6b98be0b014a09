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

from model_runner.decoding.processing import ban_end_of_text, ban_repeated_ngrams
from model_runner.decoding.row_top import row_top
from model_runner.decoding.stepping import Decision, run_solo


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


def _needs_hidden(hidden: torch.Tensor | None) -> torch.Tensor:
    """The hidden states a caller must pass because `needs_hidden` is True."""
    if hidden is None:
        raise ValueError("contrastive search needs the last layer's hidden states")
    return hidden


class ContrastiveStepper:
    """Contrastive search: `top_k` rows, one per candidate token, re-ranked every step."""

    prefill_rows = 1
    needs_hidden = True

    def __init__(
        self,
        *,
        max_new_tokens: int,
        eos_token_id: int | None,
        penalty_alpha: float = 0.6,
        top_k: int = 4,
        no_repeat_ngram_size: int = 0,
        min_new_tokens: int = 0,
    ) -> None:
        self.min_new_tokens = min_new_tokens
        self.max_new_tokens = max_new_tokens
        self.eos_token_id = eos_token_id
        self.alpha = penalty_alpha
        self.top_k = top_k
        self.rows = top_k  # one per candidate
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.new: list[int] = []
        self._ranked: tuple[torch.Tensor, int] | None = None  # (hidden states, best candidate)

    def begin(
        self, prompt: list[int], logits: torch.Tensor, hidden: torch.Tensor | None
    ) -> Decision:
        self.tokens = list(prompt)
        # [1, positions, hidden], grows by one position per new token
        self.context = _needs_hidden(hidden)
        return self._candidates(logits[:1], parent=0)

    def _candidates(self, logits: torch.Tensor, parent: int) -> Decision:
        """Try every top-k candidate in its own row, each continuing row `parent`'s cache
        (`logits`: [1, vocab], the parent row's)."""
        scores = ban_repeated_ngrams(logits, [self.tokens], self.no_repeat_ngram_size)
        scores = ban_end_of_text(scores, self.eos_token_id, len(self.new), self.min_new_tokens)
        probs = scores.softmax(dim=-1)  # [1, vocab]
        found = row_top(probs, self.top_k)  # torch.topk's answer, else None
        self.top_probs, self.top_ids = found or torch.topk(probs, k=self.top_k, dim=-1)
        return Decision(inputs=self.top_ids.view(-1).tolist(), parents=[parent] * self.top_k)

    def _chosen(self, hidden: torch.Tensor) -> int:
        """The best candidate of this step's rows (ranked once per step's hidden states)."""
        if self._ranked is None or self._ranked[0] is not hidden:
            probs = self.top_probs.view(-1)
            self._ranked = (hidden, rank_candidates(self.context, hidden, probs, self.alpha))
        return self._ranked[1]

    def logit_rows(self, hidden: torch.Tensor | None) -> list[int]:
        """Of this step's rows, the ones whose logits `advance` reads: the chosen candidate's
        only (the others' would be thrown away; a batching engine need not compute them)."""
        return [self._chosen(_needs_hidden(hidden))]

    def advance(self, logits: torch.Tensor, hidden: torch.Tensor | None) -> Decision:
        # hidden: [k, 1, H], one row per candidate tried; logits: [k, vocab] the same rows,
        # or [1, vocab] the chosen candidate's alone (the rows `logit_rows` names).
        hidden = _needs_hidden(hidden)
        chosen = self._chosen(hidden)
        self._ranked = None
        token = int(self.top_ids[0, chosen])
        self.context = torch.cat([self.context, hidden[chosen : chosen + 1]], dim=1)
        self.new.append(token)
        self.tokens.append(token)
        if token == self.eos_token_id or len(self.new) >= self.max_new_tokens:
            return Decision(done=True, tokens=self.new)
        own = logits[chosen : chosen + 1] if logits.shape[0] > 1 else logits
        return self._candidates(own, parent=chosen)


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
    stepper = ContrastiveStepper(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        penalty_alpha=penalty_alpha,
        top_k=top_k,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )
    return run_solo(model, input_ids, stepper)
