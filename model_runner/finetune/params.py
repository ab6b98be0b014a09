"""The knobs of a group's fine-tune, with peft's and the lab's names. No torch here."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Self

from model_runner.api import InvalidRequest

MIN_SENTENCES = 1
MAX_SENTENCES = 500
MAX_SENTENCE_CHARS = 500


@dataclass(frozen=True)
class FineTuneParams:
    """How a LoRA fine-tune runs; construction checks every field's range."""

    epochs: int = 3  # passes over the sentences, 1-20
    learning_rate: float = 2e-3  # AdamW step size, 1e-5 to 1e-2 (LoRA takes large ones)
    rank: int = 8  # LoRA rank r: size of the low-rank update, 1-64
    batch_size: int = 8  # sentences per optimiser step, 1-32
    max_length: int = 64  # tokens kept per sentence, 8-256
    seed: int = 0  # shuffling and LoRA initialisation

    def __post_init__(self) -> None:
        _int("epochs", self.epochs, 1, 20)
        _float("learning_rate", self.learning_rate, 1e-5, 1e-2)
        _int("rank", self.rank, 1, 64)
        _int("batch_size", self.batch_size, 1, 32)
        _int("max_length", self.max_length, 8, 256)
        _int("seed", self.seed, 0, 2**31 - 1)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in names})


def check_sentences(sentences: list[str]) -> list[str]:
    """The training sentences: 1-500 non-empty lines of at most 500 characters."""
    if not isinstance(sentences, list) or not all(isinstance(s, str) for s in sentences):
        raise InvalidRequest("sentences must be a list of text", field="sentences")
    cleaned = [s.strip() for s in sentences if s.strip()]
    if not MIN_SENTENCES <= len(cleaned) <= MAX_SENTENCES:
        raise InvalidRequest(
            f"sentences must hold {MIN_SENTENCES}-{MAX_SENTENCES} sentences (got {len(cleaned)})",
            field="sentences",
        )
    long = next((s for s in cleaned if len(s) > MAX_SENTENCE_CHARS), None)
    if long is not None:
        raise InvalidRequest(
            f"each sentence must be at most {MAX_SENTENCE_CHARS} characters", field="sentences"
        )
    return cleaned


def _int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(
            f"{name} must be a whole number from {low} to {high} (got {value})", field=name
        )


def _float(name: str, value: object, low: float, high: float) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and low <= value <= high
    if not ok:
        raise InvalidRequest(
            f"{name} must be between {low:g} and {high:g} (got {value})", field=name
        )
