"""A continuation built one token at a time: the candidates at a step, and why a method picks.

Each step is decoded by the batching engine like any request, as a `StepProbe`: a stepper
that runs the chosen method's own stepper (the one /generate uses) for one new token and
keeps what it saw. So the token a method picks here is the token it writes next in
/generate with the same settings, and the explanation is made of the method's own numbers:

- greedy: the token with the highest probability;
- sampling: the token drawn from the distribution after temperature, top-k and top-p, with
  its probability there and the seed of the draw;
- contrastive (Su et al., 2022): for each of its `top_k` candidates the model's probability,
  the degeneration penalty (the candidate's highest cosine similarity to the hidden state of
  any earlier token) and the score (1 - alpha) * p - alpha * penalty; the best score wins.

Everything here runs on the engine's thread, inside the stepper's calls.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from transformers import PreTrainedTokenizerBase

from model_runner.decoding.contrastive import ContrastiveStepper, degeneration_penalty
from model_runner.decoding.processing import ban_end_of_text, ban_repeated_ngrams, sampling_probs
from model_runner.decoding.run import stepper_for
from model_runner.decoding.stepping import Decision, Stepper
from model_runner.introspect import decode_one, display_token
from model_runner.protocol import (
    DecodingMethod,
    DecodingParams,
    ScoredCandidate,
    StepPick,
    TokenProbability,
)

# The settings each method reads, as a pick reports them.
SETTINGS = {
    DecodingMethod.GREEDY: ("no_repeat_ngram_size", "min_new_tokens"),
    DecodingMethod.SAMPLING: (
        "temperature",
        "top_k",
        "top_p",
        "seed",
        "no_repeat_ngram_size",
        "min_new_tokens",
    ),
    DecodingMethod.CONTRASTIVE: (
        "penalty_alpha",
        "top_k",
        "no_repeat_ngram_size",
        "min_new_tokens",
    ),
}


def one_token(params: DecodingParams, chosen: int) -> DecodingParams:
    """`params` for the next token only; the `chosen` tokens count as new ones already (the
    end of text stays held back while fewer than min_new_tokens are written)."""
    held_back = 1 if params.min_new_tokens > chosen else 0
    return replace(params, max_new_tokens=1, min_new_tokens=held_back)


class StepProbe:
    """One step: the model's likeliest next tokens, and the pick of `params`' method (if any),
    made by that method's own stepper."""

    prefill_rows = 1

    def __init__(
        self,
        tokenizer: PreTrainedTokenizerBase,
        top: int,
        params: DecodingParams | None = None,
        *,
        chosen: int = 0,
        device: torch.device | str = "cpu",
    ) -> None:
        self.tokenizer = tokenizer
        self.top = top
        self.params = params
        eos = tokenizer.eos_token_id
        self.method: Stepper | None = None
        if params is not None:
            self.method = stepper_for(
                one_token(params, chosen), eos, tokenizer.pad_token_id, device
            )
        self.needs_hidden = bool(self.method is not None and self.method.needs_hidden)
        self.rows = self.method.rows if self.method is not None else 1
        self.max_new_tokens = 1
        self.candidates: list[TokenProbability] = []
        self.pick: StepPick | None = None

    def begin(
        self, prompt: list[int], logits: torch.Tensor, hidden: torch.Tensor | None
    ) -> Decision:
        # logits: [1, vocab], the prediction after the prompt; hidden: [1, P, H] (contrastive)
        self.tokens = list(prompt)
        self.logits = logits[:1].clone()
        self.context = hidden
        probs = self.logits[0].softmax(dim=-1)  # [vocab]
        self.probs = probs
        values, ids = torch.topk(probs, k=min(self.top, probs.shape[-1]))
        self.candidates = [
            self._token(i, p) for i, p in zip(ids.tolist(), values.tolist(), strict=True)
        ]
        if self.method is None:
            return Decision(done=True)
        return self._after(self.method.begin(prompt, logits, hidden), None)

    def advance(self, logits: torch.Tensor, hidden: torch.Tensor | None) -> Decision:
        # Only contrastive search gets here: hidden [k, 1, H], one row per candidate tried.
        assert self.method is not None
        return self._after(self.method.advance(logits, hidden), hidden)

    def _after(self, decision: Decision, tried: torch.Tensor | None) -> Decision:
        if decision.done and self.params is not None:
            self.pick = self._explain(decision.tokens[0], tried)
        return decision

    def _token(self, token_id: int, probability: float) -> TokenProbability:
        text = decode_one(self.tokenizer, token_id)
        display = display_token(self.tokenizer, token_id, text)
        return TokenProbability(id=token_id, text=text, display=display, probability=probability)

    def _explain(self, token_id: int, tried: torch.Tensor | None) -> StepPick:
        """What the method picked, with the numbers it picked by."""
        assert self.params is not None
        params = self.params
        token = self._token(token_id, float(self.probs[token_id]))
        every = params.to_dict()
        settings = {name: every[name] for name in SETTINGS[params.method]}
        pick = StepPick(method=params.method.value, token=token, params=settings)
        if params.method is DecodingMethod.SAMPLING:
            drawn_from = sampling_probs(
                self._banned(self.logits), params.temperature, params.resolved_top_k, params.top_p
            )  # [1, vocab], as the sampler drew
            return replace(pick, drawn_probability=float(drawn_from[0, token_id]), seed=params.seed)
        if params.method is DecodingMethod.CONTRASTIVE:
            return replace(pick, penalty_alpha=params.penalty_alpha, scored=self._scored(tried))
        return pick

    def _banned(self, logits: torch.Tensor) -> torch.Tensor:
        """The logits with the method's bans (n-grams, an early end of text) applied."""
        assert self.params is not None
        stepper = self.method
        held_back = getattr(stepper, "min_new_tokens", 0)
        logits = ban_end_of_text(logits, self.tokenizer.eos_token_id, 0, held_back)
        return ban_repeated_ngrams(logits, [self.tokens], self.params.no_repeat_ngram_size)

    def _scored(self, tried: torch.Tensor | None) -> list[ScoredCandidate]:
        """Each candidate contrastive search weighed: probability, penalty, score."""
        stepper = self.method
        assert isinstance(stepper, ContrastiveStepper)
        assert tried is not None and self.context is not None
        probs, ids = stepper.top_probs.view(-1), stepper.top_ids.view(-1)  # [k] each
        k = ids.shape[0]
        # The same penalty and score as the stepper's `rank_candidates`.
        penalty = degeneration_penalty(self.context.repeat_interleave(k, dim=0), tried)  # [k]
        scores = (1.0 - stepper.alpha) * probs - stepper.alpha * penalty  # [k]
        scored = []
        for token_id, p, pen, score in zip(
            ids.tolist(), probs.tolist(), penalty.tolist(), scores.tolist(), strict=True
        ):
            token = self._token(token_id, p)
            scored.append(
                ScoredCandidate(
                    id=token_id,
                    text=token.text,
                    display=token.display,
                    probability=p,
                    penalty=pen,
                    score=score,
                )
            )
        return scored
