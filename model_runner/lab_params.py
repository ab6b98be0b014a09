"""Limits of the attention, embedding and train-step operations, and their checks.

No torch here: the bot reads the same constants for its command options, and the runner
checks every request against them once, at its edge, with errors that name the field and
its allowed range.
"""

from __future__ import annotations

from model_runner.api import InvalidRequest

MAX_TOKENS = 64  # tokens of a text for /attention and /trainstep (the matrix is at most 64x64)

MIN_WORDS, MAX_WORDS = 1, 8  # words per /embedding request
MAX_WORD_CHARS = 40
TOP_RANGE = (1, 20)  # nearest tokens per word
TOP_DEFAULT = 8

STEPS_RANGE = (1, 10)  # gradient steps of /trainstep
STEPS_DEFAULT = 3
LEARNING_RATE_RANGE = (1e-5, 1e-1)  # AdamW step size on the throwaway LoRA adapter
LEARNING_RATE_DEFAULT = 5e-3
TRAIN_STEP_RANK = 8  # LoRA rank r of the throwaway adapter (lora_alpha = 2r)


def check_int(name: str, value: object, low: int, high: int) -> int:
    """A whole number within [low, high], or an error naming the field and the range."""
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"{name} must be {low}-{high} (got {value})", field=name)
    return value


def check_float(name: str, value: object, low: float, high: float) -> float:
    """A number within [low, high], or an error naming the field and the range."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise InvalidRequest(
            f"{name} must be between {low:g} and {high:g} (got {value})", field=name
        )
    return float(value)


def check_words(words: object) -> list[str]:
    """1-8 words (or short phrases) of at most 40 characters, spaces at the edges dropped."""
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise InvalidRequest("words must be a list of text", field="words")
    cleaned = [w.strip() for w in words if w.strip()]
    if not MIN_WORDS <= len(cleaned) <= MAX_WORDS:
        raise InvalidRequest(
            f"words must hold {MIN_WORDS}-{MAX_WORDS} words (got {len(cleaned)})", field="words"
        )
    long = next((w for w in cleaned if len(w) > MAX_WORD_CHARS), None)
    if long is not None:
        raise InvalidRequest(
            f"each word must be at most {MAX_WORD_CHARS} characters (got {len(long)})",
            field="words",
        )
    return cleaned


def check_train_step(steps: object, learning_rate: object) -> tuple[int, float]:
    """The number of gradient steps and the learning rate of a train step."""
    return (
        check_int("steps", steps, *STEPS_RANGE),
        check_float("learning_rate", learning_rate, *LEARNING_RATE_RANGE),
    )
