"""The /beamtree trace: beam search's own account of every step, as the protocol's result.

`BeamRecorder` is the watch a `BeamStepper` tells what each step did (`StepAccount`); it keeps
the plain numbers and follows where each finished hypothesis came from, so the trace is the
search that ran, not a second one beside it. `trace_result` names the tokens with the
model's tokenizer. A continuation's fate at its step: `kept` (it runs on as a beam),
`finished` (it ended, EOS or the length limit, among the num_beams best, and became a
finished hypothesis) or `dropped` (everything else beam search looked at and let go).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from transformers import PreTrainedTokenizerBase

from model_runner.decoding.beam import NEG, StepAccount
from model_runner.introspect import decode_one, decode_text, display_token
from model_runner.protocol import (
    BeamCandidate,
    BeamHypothesis,
    BeamStep,
    BeamTraceResult,
)

Origin = tuple[int, int]  # (0-based step, candidate index): where a finished hypothesis ended
IMPOSSIBLE = NEG / 2  # continuations of the placeholder beams of step 1 score about NEG


@dataclass
class BeamRecorder:
    """Collects each step's account and the origin of every finished-list slot."""

    num_beams: int
    steps: list[StepAccount] = field(default_factory=list)
    origins: list[Origin | None] = field(default_factory=list)  # the finished list, best first

    def __post_init__(self) -> None:
        self.origins = [None] * self.num_beams  # placeholders until hypotheses finish

    def __call__(self, account: StepAccount) -> None:
        step = len(self.steps)
        merged = [*self.origins, *((step, k) for k in range(len(account.tokens)))]
        self.origins = [merged[i] for i in account.ranking]
        self.steps.append(account)

    def path(self, origin: Origin) -> list[int]:
        """The candidate index at every step, from the first, of the sequence ending at
        `origin`: follow each candidate to the beam it extends."""
        step, index = origin
        indices = [index]
        while step > 0:
            beam = self.steps[step].sources[index]
            step, index = step - 1, self.steps[step - 1].carried[beam]
            indices.append(index)
        return indices[::-1]

    def tokens(self, origin: Origin) -> list[int]:
        """The new tokens of the sequence ending at `origin`."""
        return [self.steps[s].tokens[k] for s, k in enumerate(self.path(origin))]


def _fates(account: StepAccount) -> list[tuple[str, int | None]]:
    """Each candidate's fate at its step, and its beam index when kept."""
    finished = set(account.finished)
    beam_of = {k: b for b, k in enumerate(account.carried)}
    fates: list[tuple[str, int | None]] = []
    for k, ended in enumerate(account.ended):
        if k in finished:
            fates.append(("finished", None))
        elif k in beam_of and not ended:
            fates.append(("kept", beam_of[k]))
        else:
            fates.append(("dropped", None))
    return fates


def trace_result(
    recorder: BeamRecorder,
    tokenizer: PreTrainedTokenizerBase,
    *,
    prompt: str,
    params: dict,
    adapter: str | None,
) -> BeamTraceResult:
    """The recorded search as a `BeamTraceResult` (usage figures left for the caller)."""
    pieces: dict[int, tuple[str, str]] = {}

    def piece(token_id: int) -> tuple[str, str]:
        if token_id not in pieces:
            text = decode_one(tokenizer, token_id)
            pieces[token_id] = (text, display_token(tokenizer, token_id, text))
        return pieces[token_id]

    steps = []
    for account in recorder.steps:
        candidates = []
        for k, (fate, beam) in enumerate(_fates(account)):
            if account.scores[k] < IMPOSSIBLE:
                continue  # an artefact of the identical start beams, never a real choice
            text, display = piece(account.tokens[k])
            candidates.append(
                BeamCandidate(
                    id=account.tokens[k],
                    text=text,
                    display=display,
                    parent=account.sources[k],
                    score=account.scores[k],
                    fate=fate,
                    beam=beam,
                    final_score=account.final_scores[k] if fate == "finished" else None,
                )
            )
        steps.append(BeamStep(candidates=candidates))
    hypotheses = []
    for origin in recorder.origins:
        if origin is None:
            continue
        step, index = origin
        account = recorder.steps[step]
        tokens = recorder.tokens(origin)
        hypotheses.append(
            BeamHypothesis(
                step=step + 1,
                index=_shown_index(account, index),
                token_ids=tokens,
                text=decode_text(tokenizer, tokens, skip_special_tokens=True),
                score=account.final_scores[index],
                log_probability=account.scores[index],
            )
        )
    last = recorder.steps[-1]
    return BeamTraceResult(
        prompt=prompt,
        params=params,
        adapter=adapter,
        steps=steps,
        hypotheses=hypotheses,
        stopped="max_new_tokens" if all(last.ended) else "settled",
    )


def _shown_index(account: StepAccount, index: int) -> int:
    """A candidate's place among the candidates the trace shows (impossible ones left out)."""
    return sum(1 for k in range(index) if account.scores[k] >= IMPOSSIBLE)
