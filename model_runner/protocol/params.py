"""The knobs a student may turn: a decoding method's settings, a fine-tune's, an alignment's.

The names and defaults are transformers' `generate()` ones and peft's, so what students read in
the lab notes carries over. Construction checks every field against `limits`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar

from model_runner.protocol import limits as L
from model_runner.protocol.errors import InvalidRequest
from model_runner.protocol.wire import Message


class DecodingMethod(StrEnum):
    """The four decoding methods of the lab."""

    GREEDY = "greedy"
    BEAM = "beam"
    CONTRASTIVE = "contrastive"
    SAMPLING = "sampling"


@dataclass(frozen=True)
class DecodingParams(Message):
    """One request's decoding settings; construction checks every field's range."""

    strict: ClassVar[bool] = True

    method: DecodingMethod = DecodingMethod.GREEDY  # which decoding method runs
    max_new_tokens: int = 50  # at most this many new tokens; the runner sets a ceiling
    num_beams: int = 5  # beam: hypotheses kept per step, 2..10
    no_repeat_ngram_size: int = 0  # any n-gram of this size occurs at most once; 0 = off
    length_penalty: float = 1.0  # beam: finished score = sum of log-probs / length**this
    penalty_alpha: float = 0.6  # contrastive: weight of the degeneration penalty, 0..1
    top_k: int | None = None  # contrastive: candidates, 1..20 (4); sampling: 0 = off (50)
    temperature: float = 1.0  # sampling: logits are divided by this, 0.05..5
    top_p: float = 1.0  # sampling: keep the smallest set of tokens with this mass; 1 = off
    seed: int | None = None  # sampling: same seed, same tokens; None = a fresh random seed
    min_new_tokens: int = 0  # the end of text is not allowed before this many new tokens

    def __post_init__(self) -> None:
        try:
            method = DecodingMethod(self.method)
        except ValueError:
            choices = ", ".join(m.value for m in DecodingMethod)
            raise InvalidRequest(
                f"method must be one of {choices} (got {L.show(self.method)})", field="method"
            ) from None
        contrastive = method is DecodingMethod.CONTRASTIVE
        top_k = self.top_k
        if top_k is None:
            top_k = L.CONTRASTIVE_TOP_K_DEFAULT if contrastive else L.SAMPLING_TOP_K_DEFAULT
        set_ = object.__setattr__
        set_(self, "method", method)
        L.check_int("max_new_tokens", self.max_new_tokens, *L.MAX_NEW_TOKENS_RANGE)
        L.check_int("num_beams", self.num_beams, *L.NUM_BEAMS_RANGE)
        L.check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, *L.NO_REPEAT_NGRAM_RANGE)
        top_k_range = L.CONTRASTIVE_TOP_K_RANGE if contrastive else L.SAMPLING_TOP_K_RANGE
        set_(self, "top_k", L.check_int("top_k", top_k, *top_k_range))
        for name, bounds in (
            ("length_penalty", L.LENGTH_PENALTY_RANGE),
            ("penalty_alpha", L.PENALTY_ALPHA_RANGE),
            ("temperature", L.TEMPERATURE_RANGE),
        ):
            set_(self, name, L.check_float(name, getattr(self, name), *bounds))
        set_(self, "top_p", L.check_top_p(self.top_p))
        L.check_optional_int("seed", self.seed, *L.SEED_RANGE)
        L.check_int("min_new_tokens", self.min_new_tokens, 0, self.max_new_tokens)

    @property
    def resolved_top_k(self) -> int:
        """`top_k` with its method's default filled in (construction always fills it)."""
        if self.top_k is None:  # only if a caller bypassed __post_init__
            raise ValueError("top_k was not resolved")
        return self.top_k


@dataclass(frozen=True)
class FineTuneParams(Message):
    """How a LoRA fine-tune runs; construction checks every field's range."""

    strict: ClassVar[bool] = True

    epochs: int = 3  # passes over the sentences
    learning_rate: float = 2e-3  # AdamW step size (LoRA takes large ones)
    rank: int = 8  # LoRA rank r: size of the low-rank update
    batch_size: int = 8  # sentences per optimiser step
    max_length: int = 64  # tokens kept per sentence
    seed: int = 0  # shuffling, held-out choice and LoRA initialisation
    held_out: int | None = None  # sentences kept out to measure overfitting; None: 1 in 10

    def __post_init__(self) -> None:
        L.check_int("epochs", self.epochs, *L.EPOCHS_RANGE)
        rate = L.check_float("learning_rate", self.learning_rate, *L.FINETUNE_LEARNING_RATE_RANGE)
        object.__setattr__(self, "learning_rate", rate)
        L.check_int("rank", self.rank, *L.RANK_RANGE)
        L.check_int("batch_size", self.batch_size, *L.BATCH_SIZE_RANGE)
        L.check_int("max_length", self.max_length, *L.MAX_LENGTH_RANGE)
        L.check_int("seed", self.seed, *L.FINETUNE_SEED_RANGE)
        L.check_optional_int("held_out", self.held_out, *L.HELD_OUT_RANGE)


@dataclass(frozen=True)
class PreferencePair(Message):
    """One judgement of the class: for `prompt`, `chosen` was preferred over `rejected`."""

    strict: ClassVar[bool] = True

    prompt: str
    chosen: str  # the continuation the class preferred (DPO's y_w)
    rejected: str  # one it preferred less (DPO's y_l)

    def __post_init__(self) -> None:
        L.check_text(self.prompt, "prompt")
        L.check_text(self.chosen, "chosen")
        L.check_text(self.rejected, "rejected")
        if self.chosen == self.rejected:
            raise InvalidRequest("chosen and rejected must differ", field="rejected")


@dataclass(frozen=True)
class AlignmentParams(Message):
    """How a DPO run on preference pairs trains its LoRA adapter; construction checks every
    field's range."""

    strict: ClassVar[bool] = True

    beta: float = 0.1  # DPO's beta: larger keeps the policy closer to the pre-trained model
    epochs: int = 3  # passes over the pairs
    learning_rate: float = 1e-3  # AdamW step size on the LoRA weights
    rank: int = 8  # LoRA rank r (lora_alpha = 2r)
    batch_size: int = 4  # pairs per optimiser step
    max_length: int = 128  # tokens kept of a prompt and its response (the prompt's end)
    seed: int = 0  # shuffling and LoRA initialisation

    def __post_init__(self) -> None:
        object.__setattr__(self, "beta", L.check_float("beta", self.beta, *L.BETA_RANGE))
        L.check_int("epochs", self.epochs, *L.EPOCHS_RANGE)
        rate = L.check_float("learning_rate", self.learning_rate, *L.FINETUNE_LEARNING_RATE_RANGE)
        object.__setattr__(self, "learning_rate", rate)
        L.check_int("rank", self.rank, *L.RANK_RANGE)
        L.check_int("batch_size", self.batch_size, *L.PAIR_BATCH_RANGE)
        L.check_int("max_length", self.max_length, *L.PAIR_MAX_LENGTH_RANGE)
        L.check_int("seed", self.seed, *L.FINETUNE_SEED_RANGE)
