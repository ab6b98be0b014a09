"""What each runner operation answers: typed results that travel in-process and as JSON.

Results ignore fields they do not know when read from JSON (a newer runner may add some).
Every result of a model call carries its `Usage`: time waiting, time computing, energy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from model_runner.protocol.wire import Message


@dataclass(frozen=True)
class RunnerInfo(Message):
    """What the runner is serving, for /about and health checks."""

    model: str  # what the instructor configured (Hub id, path or preset)
    status: str  # "loading", "ready" or "failed" (not loaded, or its worker restarting)
    device: str = ""  # e.g. "cpu", "cuda:0"
    dtype: str = ""  # e.g. "float32"
    parameters: int = 0  # number of model parameters
    version: str = ""  # the runner's package version
    error: str = ""  # why loading failed, when status == "failed"
    waiting: int = 0  # decoding requests queued for the model right now
    active: int = 0  # decoding requests being decoded right now
    restarts: int = 0  # times the model's worker died and was started again


@dataclass(frozen=True, kw_only=True)
class Usage(Message):
    """What a request cost: time waiting, time computing, and an energy estimate."""

    queue_ms: float = 0.0  # waiting for the model (other requests ahead)
    compute_ms: float = 0.0  # this request's share of the model's compute time
    energy_wh: float = 0.0  # compute time x device power (see LABBOT_DEVICE_POWER_W)
    model: str = ""  # the model that answered


@dataclass(frozen=True)
class TokenPiece(Message):
    """One token: its id, the vocabulary entry, and a readable form."""

    id: int
    piece: str  # the tokenizer's own string, e.g. "Ġbest" (GPT-2) or "▁best" (SentencePiece)
    text: str  # what it decodes to, e.g. " best"
    display: str  # readable: a leading space shown as "␣", newlines as "↵"


@dataclass(frozen=True, kw_only=True)
class TokenizeResult(Usage):
    """How the model's tokenizer splits a text."""

    text: str
    tokens: list[TokenPiece]


@dataclass(frozen=True)
class TokenProbability(Message):
    """A candidate next token and its probability."""

    id: int
    text: str
    display: str
    probability: float


@dataclass(frozen=True, kw_only=True)
class NextTokenResult(Usage):
    """The most likely next tokens after a prompt, at a temperature."""

    prompt: str
    temperature: float
    candidates: list[TokenProbability]


@dataclass(frozen=True)
class StageToken(Message):
    """A candidate next token and its probability after each stage of the sampler."""

    id: int
    text: str
    display: str
    probabilities: list[float]  # one per stage; 0 once a stage has removed the token


@dataclass(frozen=True, kw_only=True)
class SamplerStagesResult(Usage):
    """What each stage of Random Sampling does to the next-token distribution."""

    prompt: str
    stages: list[str]  # "model", "temperature 0.7", "top-k 50", "top-p 0.9"
    kept: list[int]  # how many tokens can still be drawn after each stage
    candidates: list[StageToken]  # the model's most likely tokens, most likely first
    drawn: StageToken  # the token Random Sampling drew from the last stage
    seed: int  # the seed it was drawn with: /generate with this seed starts with `drawn`


@dataclass(frozen=True)
class ScoredCandidate(Message):
    """A candidate contrastive search weighed at one step."""

    id: int
    text: str
    display: str
    probability: float  # the model's, as contrastive search weighs it (after any ban)
    penalty: float  # degeneration penalty: its highest cosine similarity to an earlier token
    score: float  # (1 - penalty_alpha) * probability - penalty_alpha * penalty


@dataclass(frozen=True)
class StepPick(Message):
    """The token one decoding method picked at a step, and what it picked it by."""

    method: str  # "greedy", "sampling" or "contrastive"
    token: TokenProbability  # probability: the model's, as the candidates show it
    params: dict[str, Any]  # the method's settings, defaults filled in
    drawn_probability: float | None = None  # sampling: in the distribution it drew from
    seed: int | None = None  # sampling: the same seed draws the same token
    penalty_alpha: float | None = None  # contrastive
    scored: list[ScoredCandidate] = field(default_factory=list)  # contrastive, likeliest first


@dataclass(frozen=True, kw_only=True)
class StepResult(Usage):
    """One step of a continuation built token by token: the likeliest next tokens after the
    prompt and the tokens chosen so far, and the pick of a method when one was asked."""

    prompt: str
    chosen: list[int]  # the token ids chosen so far
    text: str  # those tokens as text (special tokens removed)
    candidates: list[TokenProbability]  # the model's likeliest next tokens, likeliest first
    end_of_text: int | None  # the end-of-text token's id (None if the model has none)
    pick: StepPick | None = None
    adapter: str | None = None  # the LoRA adapter used, None for the base model


@dataclass(frozen=True)
class TokenLoss(Message):
    """How surprised the model was by one token of a text."""

    id: int
    display: str
    probability: float  # the model's probability for this token, given the ones before
    loss: float  # cross-entropy: -ln(probability)
    text: str = ""  # what it decodes to


@dataclass(frozen=True, kw_only=True)
class LossResult(Usage):
    """Per-token loss of a text, its mean, and the perplexity exp(mean loss)."""

    text: str
    tokens: list[TokenLoss]
    mean_loss: float
    perplexity: float


@dataclass(frozen=True, kw_only=True)
class GenerateResult(Usage):
    """A continuation of the prompt by one decoding method."""

    prompt: str
    method: str
    text: str  # the new text only, special tokens removed
    token_ids: list[int]  # the new token ids (EOS included when the model ended the text)
    finish_reason: str  # "eos" (the model ended it) or "length" (max_new_tokens reached)
    params: dict[str, Any]  # the decoding parameters used, defaults filled in
    adapter: str | None = None  # the LoRA adapter used, None for the base model


@dataclass(frozen=True)
class BeamCandidate(Message):
    """A continuation beam search weighed at one step: a beam of the step before plus a token."""

    id: int
    text: str
    display: str
    parent: int  # the beam it extends: its place in the step before's `beams` (step 1: 0)
    score: float  # the summed log-probability of the beam's tokens, this one included
    fate: str  # "kept" (a beam of this step), "finished" (a hypothesis ended) or "dropped"
    beam: int | None = None  # kept: its place among this step's beams (0 = the best)
    final_score: float | None = None  # finished: score / generated length ** length_penalty


@dataclass(frozen=True)
class BeamStep(Message):
    """One step of beam search: the 2 x num_beams best continuations, best first."""

    candidates: list[BeamCandidate]

    @property
    def beams(self) -> list[BeamCandidate]:
        """The beams carried on from this step, in beam order (the best first)."""
        kept = [c for c in self.candidates if c.fate == "kept"]
        return sorted(kept, key=lambda c: c.beam if c.beam is not None else 0)


@dataclass(frozen=True)
class BeamHypothesis(Message):
    """A finished hypothesis: where it ended, its tokens and its score."""

    step: int  # 1-based step at which it ended
    index: int  # its place in that step's candidates
    token_ids: list[int]  # the new tokens, from the first step to this one
    text: str
    score: float  # length-penalised: what beam search ranks finished hypotheses by
    log_probability: float  # the summed log-probability of its tokens


@dataclass(frozen=True, kw_only=True)
class BeamTraceResult(Usage):
    """Beam search step by step, and the hypothesis it returns (the same as /generate's)."""

    prompt: str
    params: dict[str, Any]  # the decoding parameters used, defaults filled in
    steps: list[BeamStep]
    hypotheses: list[BeamHypothesis]  # the finished hypotheses it kept, best first
    stopped: str  # "max_new_tokens" (the length limit) or "settled" (no beam could do better)
    adapter: str | None = None

    @property
    def winner(self) -> BeamHypothesis:
        """The hypothesis beam search returns."""
        return self.hypotheses[0]


@dataclass(frozen=True, kw_only=True)
class CompareResult(Usage):
    """The same prompt through Greedy, 5-Beam, Contrastive Search and Random Sampling."""

    prompt: str
    results: list[GenerateResult]  # in COMPARE_METHODS order


@dataclass(frozen=True)
class PreferenceAgreement(Message):
    """How often a model prefers the chosen output of an alignment run's pairs."""

    pairs: int
    # Pairs where the pre-trained model gives the chosen output the higher log-probability
    # (summed over the response's tokens), and the same for the aligned model.
    preferred_before: int
    preferred_after: int
    # Pairs where the aligned model's implicit reward margin is positive:
    # beta * ((log pi - log ref)(chosen) - (log pi - log ref)(rejected)) > 0. Before training
    # the policy is the reference, so every margin is 0 (none positive).
    margin_positive: int
    mean_margin: float  # that margin's mean over the pairs


@dataclass(frozen=True)
class FineTuneStatus(Message):
    """Where a LoRA fine-tune job stands."""

    job_id: str
    adapter: str  # the adapter it produces (usable with generate once status is "done")
    status: str  # "queued", "running", "done", "failed" or "cancelled"
    step: int = 0
    total_steps: int = 0
    losses: list[float] = field(default_factory=list)  # training loss after each step
    eta_s: float | None = None  # estimated seconds left while running
    error: str = ""  # why it failed
    starts_in_s: float | None = None  # while queued: about when a place frees (None: unknown)
    together: int = 0  # while running: fine-tunes training together with it, itself included
    held_out: list[str] = field(default_factory=list)  # sentences kept out of training
    held_out_losses: list[float] = field(default_factory=list)  # before, then after each epoch
    general_losses: list[float] = field(default_factory=list)  # general text: before, after
    trained_weights: int = 0  # weights LoRA trains
    total_weights: int = 0  # the base model's weights
    steps_per_epoch: int = 0
    preference: PreferenceAgreement | None = None  # an alignment run's, once measured


@dataclass(frozen=True)
class AdapterInfo(Message):
    """A trained adapter on the runner, with the record of what it learned from."""

    id: str
    sentences: int  # how many sentences it was trained on
    params: dict[str, Any]
    created_at: str


# --- the lab's pre-training steps: attention, embeddings, one backpropagation step ----------


@dataclass(frozen=True, kw_only=True)
class AttentionResult(Usage):
    """Attention weights of one layer over a text's tokens (one head, or averaged over heads)."""

    text: str
    tokens: list[TokenPiece]  # as the model saw them: a beginning-of-text token, then the text
    layer: int  # 1-based, 1 = closest to the input
    head: int | None  # 1-based; None = the mean over all heads of the layer
    layers: int  # how many layers the model has
    heads: int  # attention heads per layer
    weights: list[list[float]]  # [query token][key token]; rows sum to 1, 0 above the diagonal
    attends_to: list[int]  # per token, the index of the earlier (or same) token it weighs most
    # The same among the text's own tokens: the beginning-of-text token, where most heads park
    # spare weight (an "attention sink"), skipped; its own row points at itself.
    attends_to_in_text: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class Neighbour(Message):
    """A vocabulary token close to a word in the model's input-embedding space."""

    id: int
    display: str  # readable, a leading space shown as "␣"
    similarity: float  # cosine similarity to the word's vector, from -1 to 1
    text: str = ""  # what it decodes to


@dataclass(frozen=True)
class WordNeighbours(Message):
    """One word: the tokens it splits into and its nearest tokens."""

    word: str
    tokens: list[TokenPiece]  # its vector is the mean of these tokens' vectors
    neighbours: list[Neighbour]  # most similar first; the word's own tokens left out


@dataclass(frozen=True)
class EmbeddingPoint(Message):
    """A word or a neighbour, placed on the 2-D PCA picture."""

    label: str  # the word itself, or the neighbour's display form
    x: float  # first principal component
    y: float  # second principal component
    word: str  # the word this point belongs to
    is_word: bool  # True for the word itself, False for one of its neighbours


@dataclass(frozen=True, kw_only=True)
class EmbeddingResult(Usage):
    """Nearest tokens of each word by cosine similarity, and a 2-D PCA projection of them all."""

    words: list[WordNeighbours]
    top: int  # neighbours per word
    points: list[EmbeddingPoint]  # every word, then its neighbours, word by word
    explained: list[float]  # share of the variance on the x and y axes (0 to 1)


@dataclass(frozen=True)
class TrainStepToken(Message):
    """One token of the training sentence and how likely the model found it, step by step."""

    id: int
    display: str
    probabilities: list[float]  # before training, then after each step (steps + 1 values)
    text: str = ""


@dataclass(frozen=True, kw_only=True)
class TrainStepResult(Usage):
    """A few gradient steps on one sentence, on a throwaway LoRA adapter."""

    text: str
    tokens: list[TrainStepToken]
    losses: list[float]  # mean loss before training, then after each step (steps + 1 values)
    steps: int
    learning_rate: float
    rank: int  # rank r of the throwaway LoRA adapter


@dataclass(frozen=True)
class AdapterList(Message):
    """The adapters in the runner's adapter store."""

    adapters: list[AdapterInfo]
