"""One request type per runner operation: what it names, its checks, and what it answers.

An operation is a frozen dataclass that checks its fields when it is built, so a request that
exists is a valid one. Its `name` is the runner method that serves it and (with `-` for `_`)
its HTTP path `/v1/<name>`; the type parameter of `Operation[...]` is its result. The
in-process client, the HTTP client and the HTTP service are generic over `OPERATIONS`, so a
new operation is this type, its `ModelRunner` method and a test.

A request names everything it needs (the adapter by id, the method and its parameters), so
any replica that can read the adapter store can serve it.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from model_runner.protocol import limits as L
from model_runner.protocol.errors import InvalidRequest
from model_runner.protocol.params import (
    AlignmentParams,
    DecodingMethod,
    DecodingParams,
    FineTuneParams,
    PreferencePair,
)
from model_runner.protocol.results import (
    AdapterList,
    AttentionResult,
    BeamTraceResult,
    CompareResult,
    EmbeddingResult,
    FineTuneStatus,
    GenerateResult,
    LossResult,
    NextTokenResult,
    RunnerInfo,
    SamplerStagesResult,
    StepResult,
    TokenizeResult,
    TrainStepResult,
)
from model_runner.protocol.wire import Message

R = TypeVar("R")

OPERATIONS: dict[str, type[Operation[Any]]] = {}


class Operation(Message, Generic[R]):
    """A request to the runner whose answer is an `R`."""

    strict: ClassVar[bool] = True
    name: ClassVar[str]  # the ModelRunner method; the HTTP path is /v1/<name with - for _>
    result: ClassVar[Any]  # R itself (a Message type, or bytes), read from `Operation[R]`

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if typing.get_origin(base) is Operation:
                (cls.result,) = typing.get_args(base)
        if "name" in cls.__dict__:
            if cls.name in OPERATIONS:
                raise TypeError(f"two operations are named {cls.name!r}")
            OPERATIONS[cls.name] = cls

    def route_key(self) -> str | None:
        """The course the request belongs to: the first part of its adapter or job id
        (`g1234` of the bot's `g1234-group1-v2`, one per Discord server), or None. A cluster
        keeps a course's requests, and so its adapters, on one replica."""
        for name in ("adapter", "job_id"):
            value = getattr(self, name, None)
            if isinstance(value, str) and value:
                return value.split("-", 1)[0]
        return None

    @classmethod
    def path(cls) -> str:
        """The operation's HTTP path."""
        return "/v1/" + cls.name.replace("_", "-")


# --- the model at work ------------------------------------------------------------------------


@dataclass(frozen=True)
class Info(Operation[RunnerInfo]):
    """What the runner serves and whether it is ready."""

    name: ClassVar[str] = "info"


@dataclass(frozen=True)
class Generate(Operation[GenerateResult]):
    """Continue `prompt` with one decoding method, with a group's adapter if one is named."""

    name: ClassVar[str] = "generate"

    prompt: str
    params: DecodingParams = field(default_factory=DecodingParams)
    adapter: str | None = None  # a saved adapter's id; None = the pre-trained model

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        if not isinstance(self.params, DecodingParams):
            raise InvalidRequest("params must be decoding parameters", field="params")
        if self.adapter is not None:
            L.check_id("adapter", self.adapter)


# The lab's comparison table: the four methods with the lab's settings, in its column order.
COMPARE_METHODS = ("greedy", "beam", "contrastive", "sampling")
LAB_SETTINGS: dict[str, dict[str, Any]] = {
    "greedy": {},
    "beam": {"num_beams": 5},
    "contrastive": {"penalty_alpha": 0.6, "top_k": 4},
    "sampling": {},
}


@dataclass(frozen=True)
class Compare(Operation[CompareResult]):
    """The lab's table row: Greedy, 5-Beam, Contrastive Search and Random Sampling."""

    name: ClassVar[str] = "compare"

    prompt: str
    max_new_tokens: int = L.COMPARE_MAX_NEW_TOKENS_DEFAULT
    seed: int | None = None  # Random Sampling's seed; None = a fresh one

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        L.check_int("max_new_tokens", self.max_new_tokens, *L.MAX_NEW_TOKENS_RANGE)
        L.check_optional_int("seed", self.seed, *L.SEED_RANGE)

    def columns(self) -> list[DecodingParams]:
        """The four methods' settings, in COMPARE_METHODS order."""
        return [
            DecodingParams(
                method=DecodingMethod(name),
                max_new_tokens=self.max_new_tokens,
                seed=self.seed if name == "sampling" else None,
                **LAB_SETTINGS[name],
            )
            for name in COMPARE_METHODS
        ]


def _traced_beam_search() -> DecodingParams:
    return DecodingParams(
        method=DecodingMethod.BEAM, max_new_tokens=L.BEAM_TRACE_MAX_NEW_TOKENS_DEFAULT
    )


@dataclass(frozen=True)
class BeamTrace(Operation[BeamTraceResult]):
    """Beam search step by step, exactly as `Generate` with the same `params` runs it: the
    beams kept, the candidates dropped, the hypotheses finished, and the one returned."""

    name: ClassVar[str] = "beam_trace"

    prompt: str
    params: DecodingParams = field(default_factory=_traced_beam_search)  # method beam
    adapter: str | None = None  # a saved adapter's id; None = the pre-trained model

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        if not isinstance(self.params, DecodingParams):
            raise InvalidRequest("params must be decoding parameters", field="params")
        if self.params.method is not DecodingMethod.BEAM:
            raise InvalidRequest(
                f"method must be beam to trace a beam search (got {self.params.method.value})",
                field="method",
            )
        L.check_int(
            "max_new_tokens", self.params.max_new_tokens, *L.BEAM_TRACE_MAX_NEW_TOKENS_RANGE
        )
        if self.adapter is not None:
            L.check_id("adapter", self.adapter)


@dataclass(frozen=True)
class NextToken(Operation[NextTokenResult]):
    """The `top` most likely next tokens after `prompt`, softmax(logits / temperature)."""

    name: ClassVar[str] = "next_token"

    prompt: str
    temperature: float = 1.0
    top: int = L.NEXT_TOKEN_TOP_DEFAULT

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        rate = L.check_float("temperature", self.temperature, *L.TEMPERATURE_RANGE)
        object.__setattr__(self, "temperature", rate)
        L.check_int("top", self.top, *L.NEXT_TOKEN_TOP_RANGE)


@dataclass(frozen=True)
class SamplerStages(Operation[SamplerStagesResult]):
    """The next-token distribution after each stage of Random Sampling, in the order sampling
    applies them: the model's softmax, the temperature, top-k, then top-p (renormalised)."""

    name: ClassVar[str] = "sampler_stages"

    prompt: str
    temperature: float = 1.0
    top_k: int = L.SAMPLING_TOP_K_DEFAULT  # 0 = off
    top_p: float = 1.0  # 1 = off
    top: int = L.NEXT_TOKEN_TOP_DEFAULT
    seed: int | None = None  # the draw: same seed, same token as /generate's first; None = fresh

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        rate = L.check_float("temperature", self.temperature, *L.TEMPERATURE_RANGE)
        object.__setattr__(self, "temperature", rate)
        L.check_int("top_k", self.top_k, *L.SAMPLING_TOP_K_RANGE)
        object.__setattr__(self, "top_p", L.check_top_p(self.top_p))
        L.check_int("top", self.top, *L.NEXT_TOKEN_TOP_RANGE)
        L.check_optional_int("seed", self.seed, *L.SEED_RANGE)


# The methods a step can ask for: each picks one next token (beam search keeps several
# continuations, so it has no single next token until it ends).
STEP_METHODS = (DecodingMethod.GREEDY, DecodingMethod.SAMPLING, DecodingMethod.CONTRASTIVE)


@dataclass(frozen=True)
class StepCandidates(Operation[StepResult]):
    """One step of a continuation built a token at a time: after `prompt` and the tokens
    `chosen` so far, the `top` likeliest next tokens; with `params`, also the token its method
    picks there and why. The pick is the token /generate's method would write next with the
    same settings (`chosen` counts as its new tokens so far, for min_new_tokens)."""

    name: ClassVar[str] = "step_candidates"

    prompt: str
    chosen: list[int] = field(default_factory=list)  # token ids added so far, in order
    adapter: str | None = None  # a saved adapter's id; None = the pre-trained model
    top: int = L.STEP_TOP_DEFAULT
    params: DecodingParams | None = None  # greedy, sampling or contrastive; None = no pick

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        chosen = L.check_token_ids("chosen", self.chosen, L.STEP_TOKENS_MAX - 1)
        object.__setattr__(self, "chosen", chosen)
        if self.adapter is not None:
            L.check_id("adapter", self.adapter)
        L.check_int("top", self.top, *L.STEP_TOP_RANGE)
        if self.params is None:
            return
        if not isinstance(self.params, DecodingParams):
            raise InvalidRequest("params must be decoding parameters", field="params")
        if self.params.method not in STEP_METHODS:
            raise InvalidRequest(
                "method must be greedy, sampling or contrastive: beam search keeps several "
                "continuations, so it picks no single next token",
                field="method",
            )


@dataclass(frozen=True)
class Tokenize(Operation[TokenizeResult]):
    """How the model's tokenizer splits `text`."""

    name: ClassVar[str] = "tokenize"

    text: str

    def __post_init__(self) -> None:
        L.check_text(self.text)


@dataclass(frozen=True)
class Loss(Operation[LossResult]):
    """Each token's probability and loss, the mean loss and the perplexity."""

    name: ClassVar[str] = "loss"

    text: str

    def __post_init__(self) -> None:
        L.check_text(self.text)


# --- the pre-training steps made visible ----------------------------------------------------


@dataclass(frozen=True)
class Attention(Operation[AttentionResult]):
    """Attention weights of one layer (1-based, None = the last) over `text`'s tokens, of one
    head (1-based) or averaged over the layer's heads (None). The runner knows the model's
    layers and heads and checks the upper bounds."""

    name: ClassVar[str] = "attention"

    text: str
    layer: int | None = None
    head: int | None = None

    def __post_init__(self) -> None:
        L.check_text(self.text)
        L.check_optional_int("layer", self.layer, 1, None)
        L.check_optional_int("head", self.head, 1, None)


@dataclass(frozen=True)
class Embedding(Operation[EmbeddingResult]):
    """Each word's nearest tokens by cosine similarity, and a 2-D PCA picture of them."""

    name: ClassVar[str] = "embedding"

    words: list[str]
    top: int = L.TOP_DEFAULT

    def __post_init__(self) -> None:
        words = L.check_lines("words", self.words, L.WORDS_RANGE, L.MAX_WORD_CHARS, "word")
        object.__setattr__(self, "words", words)
        L.check_int("top", self.top, *L.TOP_RANGE)


@dataclass(frozen=True)
class TrainStep(Operation[TrainStepResult]):
    """A few gradient steps on `text` on a throwaway LoRA adapter (the shared model never
    changes)."""

    name: ClassVar[str] = "train_step"

    text: str
    steps: int = L.STEPS_DEFAULT
    learning_rate: float = L.LEARNING_RATE_DEFAULT

    def __post_init__(self) -> None:
        L.check_text(self.text)
        L.check_int("steps", self.steps, *L.STEPS_RANGE)
        rate = L.check_float("learning_rate", self.learning_rate, *L.LEARNING_RATE_RANGE)
        object.__setattr__(self, "learning_rate", rate)


# --- fine-tunes and adapters ------------------------------------------------------------------


@dataclass(frozen=True)
class StartFineTune(Operation[FineTuneStatus]):
    """Queue a LoRA fine-tune on `sentences` that saves adapter `adapter` (also the job's id)."""

    name: ClassVar[str] = "start_finetune"

    adapter: str
    sentences: list[str]
    params: FineTuneParams = field(default_factory=FineTuneParams)

    def __post_init__(self) -> None:
        L.check_id("adapter", self.adapter)
        sentences = L.check_lines(
            "sentences", self.sentences, L.SENTENCES_RANGE, L.MAX_SENTENCE_CHARS, "sentence"
        )
        object.__setattr__(self, "sentences", sentences)
        if not isinstance(self.params, FineTuneParams):
            raise InvalidRequest("params must be fine-tune parameters", field="params")


@dataclass(frozen=True)
class StartAlignment(Operation[FineTuneStatus]):
    """Queue a DPO run on preference pairs that saves LoRA adapter `adapter` (also the job's
    id), trained against the frozen pre-trained model as the reference. Its progress and end
    are a fine-tune's: `finetune_status`, `cancel_finetune`."""

    name: ClassVar[str] = "start_alignment"

    adapter: str
    pairs: list[PreferencePair]
    params: AlignmentParams = field(default_factory=AlignmentParams)

    def __post_init__(self) -> None:
        L.check_id("adapter", self.adapter)
        if not isinstance(self.pairs, list | tuple) or not all(
            isinstance(pair, PreferencePair) for pair in self.pairs
        ):
            raise InvalidRequest("pairs must be a list of preference pairs", field="pairs")
        low, high = L.PAIRS_RANGE
        if not low <= len(self.pairs) <= high:
            raise InvalidRequest(
                f"pairs must hold {low}-{high} preference pairs (got {len(self.pairs)})",
                field="pairs",
            )
        object.__setattr__(self, "pairs", list(self.pairs))
        if not isinstance(self.params, AlignmentParams):
            raise InvalidRequest("params must be alignment parameters", field="params")


@dataclass(frozen=True)
class FineTuneProgress(Operation[FineTuneStatus]):
    """Where a fine-tune stands (JobNotFound if no such job was ever started)."""

    name: ClassVar[str] = "finetune_status"

    job_id: str

    def __post_init__(self) -> None:
        L.check_id("job_id", self.job_id)


@dataclass(frozen=True)
class CancelFineTune(Operation[FineTuneStatus]):
    """Stop a queued or running fine-tune; nothing is saved. A finished job stays finished."""

    name: ClassVar[str] = "cancel_finetune"

    job_id: str

    def __post_init__(self) -> None:
        L.check_id("job_id", self.job_id)


@dataclass(frozen=True)
class ListAdapters(Operation[AdapterList]):
    """The saved adapters, each with the record of what it learned from."""

    name: ClassVar[str] = "list_adapters"


@dataclass(frozen=True)
class AdapterArchive(Operation[bytes]):
    """A saved adapter as zip bytes, with a README on loading it in a notebook."""

    name: ClassVar[str] = "adapter_archive"

    adapter: str

    def __post_init__(self) -> None:
        L.check_id("adapter", self.adapter)
