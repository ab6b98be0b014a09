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

A `watch` (the runner's /beamtree trace) is told what every step did, as a `StepAccount`:
the search itself is unchanged, and without a watch nothing extra is computed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from model_runner.decoding.processing import ban_end_of_text, ban_repeated_ngrams
from model_runner.decoding.row_top import row_top
from model_runner.decoding.stepping import Decision, run_solo

NEG = -1.0e9  # transformers' "impossible" score; added, not assigned, to keep its rounding


def best_continuations(totals: torch.Tensor, keep: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `keep` best of `totals` [beams, vocab], best first, and their indices into the
    flattened [beams * vocab], as `torch.topk(totals.reshape(-1), keep)` gives them: each
    beam's own best `keep` first (the best over all beams are among them), then the best of
    those. On the 2-core test machine one top-k over 5 x 50,257 took 0.43 ms alone (1 ms inside
    a burst), the rows' top-k and the best of theirs 0.25 ms (0.2 ms)."""
    row_scores, row_index = torch.topk(totals, min(keep, totals.shape[-1]), dim=-1)  # [beams, k]
    return best_of_rows(row_scores, row_index, totals.shape[-1], keep)


def best_of_rows(
    row_scores: torch.Tensor, row_index: torch.Tensor, vocab: int, keep: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """best_continuations' second half: from each beam's best `keep` (`row_scores` and their
    tokens `row_index`, [beams, k]), the best `keep` over all beams and their flat indices."""
    beams = row_scores.shape[0]
    flat = row_index + torch.arange(beams, device=row_scores.device)[:, None] * vocab
    top_scores, chosen = torch.topk(row_scores.reshape(-1), keep)
    return top_scores, flat.reshape(-1)[chosen]


@dataclass(frozen=True)
class StepAccount:
    """What one step of the search did, in plain numbers (for a watch, not for the search).

    The step looks at `2 * num_beams` continuations, best first; each is a running beam (its
    index among the beams of the step before) plus one token.
    """

    tokens: list[int]  # [keep] each continuation's new token
    sources: list[int]  # [keep] the beam it continues
    scores: list[float]  # [keep] its summed log-probability
    ended: list[bool]  # [keep] it ends here (EOS, or the length limit)
    carried: list[int]  # [beams] the continuations that run on, as the next step's beams
    finished: list[int]  # the continuations that became finished hypotheses this step
    final_scores: list[float]  # [keep] score / generated length ** length_penalty
    ranking: list[int]  # [beams] the finished list now: indices into (the list before + keep)
    done: bool  # the search ends with this step


StepWatch = Callable[[StepAccount], None]


class BeamStepper:
    """Beam search over `num_beams` rows; see the module docstring for the rules."""

    needs_hidden = False

    def __init__(
        self,
        *,
        max_new_tokens: int,
        eos_token_id: int | None,
        pad_token_id: int | None = None,
        num_beams: int = 5,
        length_penalty: float = 1.0,
        no_repeat_ngram_size: int = 0,
        min_new_tokens: int = 0,
    ) -> None:
        self.min_new_tokens = min_new_tokens
        self.prefill_rows = num_beams  # every beam holds the prompt, as in transformers
        self.rows = num_beams
        self.num_beams = num_beams
        self.max_new_tokens = max_new_tokens
        self.eos_token_id = eos_token_id
        self.fill = pad_token_id if pad_token_id is not None else (eos_token_id or 0)
        self.length_penalty = length_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.watch: StepWatch | None = None  # told what each step did, when set

    def begin(
        self, prompt: list[int], logits: torch.Tensor, hidden: torch.Tensor | None = None
    ) -> Decision:
        device = logits.device
        n = self.num_beams
        self.prompt_len = len(prompt)
        self.max_len = self.prompt_len + self.max_new_tokens
        self.keep = 2 * n  # continuations looked at per step
        self.in_top = torch.arange(self.keep, device=device) < n  # [keep]
        # Running beams: token ids so far (padded to max_len) and summed log-probs.
        self.running = torch.full((n, self.max_len), self.fill, dtype=torch.long, device=device)
        self.running[:, : self.prompt_len] = torch.tensor(prompt, device=device)
        self.running_scores = torch.zeros(n, device=device)  # [beams]
        self.running_scores[1:] = NEG  # all beams start equal: only the first may extend
        # Finished hypotheses: ids, length-penalised scores, generated length, real or not.
        self.finished = self.running.clone()  # [beams, max_len]
        self.finished_scores = torch.full((n,), NEG, device=device)  # [beams]
        self.finished_len = torch.zeros(n, dtype=torch.long, device=device)  # [beams]
        self.is_finished = torch.zeros(n, dtype=torch.bool, device=device)  # [beams]
        self.cur_len = self.prompt_len
        return self.advance(logits)

    def advance(self, logits: torch.Tensor, hidden: torch.Tensor | None = None) -> Decision:
        cur_len = self.cur_len
        log_probs = torch.log_softmax(logits, dim=-1)  # [beams, vocab]
        if self.no_repeat_ngram_size:
            sequences = self.running[:, :cur_len].tolist()
            log_probs = ban_repeated_ngrams(log_probs, sequences, self.no_repeat_ngram_size)
        log_probs = ban_end_of_text(
            log_probs, self.eos_token_id, cur_len - self.prompt_len, self.min_new_tokens
        )
        totals = log_probs + self.running_scores[:, None]  # [beams, vocab]
        # The best `keep` continuations over all beams.
        top_scores, top_index = best_continuations(totals, self.keep)  # [keep]
        return self.advance_with(top_scores, top_index, logits.shape[-1])

    @property
    def plain_step(self) -> bool:
        """Whether this step's scores are the log-softmax plus the running scores alone (no
        n-gram or end-of-text ban): then `beams_together` may take it with other requests'."""
        return not self.no_repeat_ngram_size and not (
            self.eos_token_id is not None and self.cur_len - self.prompt_len < self.min_new_tokens
        )

    def advance_with(
        self, top_scores: torch.Tensor, top_index: torch.Tensor, vocab: int
    ) -> Decision:
        """The step from its best `keep` continuations over all beams (scores, flat indices
        into [beams * vocab], best first)."""
        n, keep, cur_len, device = self.num_beams, self.keep, self.cur_len, top_scores.device
        source = top_index // vocab  # [keep] which beam each continues
        candidates = self.running[source]  # [keep, max_len]
        new_tokens = top_index % vocab  # [keep]
        candidates[:, cur_len] = new_tokens
        ends = torch.zeros(keep, dtype=torch.bool, device=device)  # [keep]
        if self.eos_token_id is not None:
            ends |= new_tokens == self.eos_token_id
        if cur_len + 1 >= self.max_len:
            ends[:] = True
        # The best num_beams continuations that did not end go on running.
        carry_scores = top_scores + ends.to(torch.float32) * NEG  # [keep]
        chosen = torch.topk(carry_scores, n)[1]  # [beams]
        self.running = candidates[chosen]
        self.running_scores = carry_scores[chosen]
        parents = source[chosen]  # [beams] for reordering the cache
        # Newly finished hypotheses compete with the finished ones for the num_beams slots.
        just_finished = ends & self.in_top  # [keep]
        final = top_scores / ((cur_len + 1 - self.prompt_len) ** self.length_penalty)  # [keep]
        penalised = final + (~just_finished).to(torch.float32) * NEG
        merged_scores = torch.cat((self.finished_scores, penalised))  # [beams + keep]
        best = torch.topk(merged_scores, n)[1]  # [beams]
        self.finished = torch.cat((self.finished, candidates))[best]
        self.finished_scores = merged_scores[best]
        new_len = torch.full((keep,), cur_len + 1 - self.prompt_len, device=device)
        self.finished_len = torch.cat((self.finished_len, new_len))[best]
        self.is_finished = torch.cat((self.is_finished, just_finished))[best]
        self.cur_len = cur_len = cur_len + 1
        may_improve = _may_improve(
            self.running_scores,
            self.finished_scores,
            self.is_finished,
            cur_len - self.prompt_len,
            self.length_penalty,
        )
        done = not may_improve or bool(ends.all())
        if self.watch is not None:
            self.watch(
                StepAccount(
                    tokens=new_tokens.tolist(),
                    sources=source.tolist(),
                    scores=top_scores.tolist(),
                    ended=ends.tolist(),
                    carried=chosen.tolist(),
                    finished=just_finished.nonzero().flatten().tolist(),
                    final_scores=final.tolist(),
                    ranking=best.tolist(),
                    done=done,
                )
            )
        if done:
            start = self.prompt_len
            tokens = self.finished[0, start : start + int(self.finished_len[0])].tolist()
            return Decision(done=True, tokens=tokens)
        return Decision(inputs=self.running[:, cur_len - 1].tolist(), parents=parents.tolist())


def beams_together(
    steppers: Sequence[BeamStepper], logits: torch.Tensor
) -> list[Decision | Exception]:
    """One step of many beam requests whose steps are plain (`plain_step`) and who look at as
    many continuations (`keep`), from their rows' logits side by side [their beams, vocab]:
    the log-softmax over all rows in one call, then each row's best `keep` with its running
    score added (decoding/row_top.py, one pass over each row; torch.topk where a tie makes
    it unsure: row for row the arithmetic each request does alone), then each request's own
    step. A request whose step failed gets its error."""
    keep = steppers[0].keep
    if any(not s.plain_step or s.keep != keep for s in steppers):
        raise ValueError("beams_together takes plain steps that look at as many continuations")
    vocab = logits.shape[-1]
    scores = torch.cat([stepper.running_scores for stepper in steppers])  # [rows]
    log_probs = torch.log_softmax(logits, dim=-1)  # [rows, vocab]
    found = row_top(log_probs, min(keep, vocab), scores)  # the scores added as it reads
    if found is None:  # (a tie among a row's best: torch.topk's order)
        totals = log_probs + scores[:, None]  # [rows, vocab]
        found = torch.topk(totals, min(keep, vocab), dim=-1)
    row_scores, row_index = found  # [rows, k]
    decisions: list[Decision | Exception] = []
    first = 0
    for stepper in steppers:
        rows = slice(first, first + stepper.num_beams)
        first = rows.stop
        try:
            top = best_of_rows(row_scores[rows], row_index[rows], vocab, keep)
            decisions.append(stepper.advance_with(*top, vocab))
        except Exception as error:  # noqa: BLE001 - this request's alone
            decisions.append(error)
    return decisions


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
    watch: StepWatch | None = None,
) -> list[int]:
    """The new token ids of the best finished hypothesis (ending with EOS if it has one)."""
    stepper = BeamStepper(
        max_new_tokens=max_new_tokens,
        eos_token_id=eos_token_id,
        pad_token_id=pad_token_id,
        num_beams=num_beams,
        length_penalty=length_penalty,
        no_repeat_ngram_size=no_repeat_ngram_size,
    )
    stepper.watch = watch
    return run_solo(model, input_ids, stepper)


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
