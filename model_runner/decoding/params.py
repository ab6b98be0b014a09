"""What a student may choose when the model continues a prompt: the method and its knobs.

The names and defaults are transformers' `generate()` ones, so what students read in the
lab notes carries over. Nothing here imports torch: the bot builds and checks these objects
before any request reaches the runner, and they travel as JSON over the runner's HTTP API.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum
from typing import Any, Self

from model_runner.api import InvalidRequest


class DecodingMethod(StrEnum):
    """The four decoding methods of the lab."""

    GREEDY = "greedy"
    BEAM = "beam"
    CONTRASTIVE = "contrastive"
    SAMPLING = "sampling"


# Allowed ranges, inclusive: (lowest, highest).
MAX_NEW_TOKENS_MIN = 1
NUM_BEAMS_RANGE = (2, 10)
NO_REPEAT_NGRAM_RANGE = (0, 10)
LENGTH_PENALTY_RANGE = (-5.0, 5.0)
PENALTY_ALPHA_RANGE = (0.0, 1.0)
CONTRASTIVE_TOP_K_RANGE = (1, 20)
SAMPLING_TOP_K_RANGE = (0, 1000)
TEMPERATURE_RANGE = (0.05, 5.0)
SEED_RANGE = (0, 2**32 - 1)

# top_k means different things to the two methods that read it, so its default does too.
CONTRASTIVE_TOP_K_DEFAULT = 4  # candidates re-ranked per step (the lab's setting)
SAMPLING_TOP_K_DEFAULT = 50  # transformers' default for sampling


@dataclass(frozen=True)
class DecodingParams:
    """One request's decoding settings; construction checks every field's range."""

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

    def __post_init__(self) -> None:
        try:
            method = DecodingMethod(self.method)
        except ValueError:
            choices = ", ".join(m.value for m in DecodingMethod)
            raise InvalidRequest(
                f"method must be one of {choices} (got {self.method!r})", field="method"
            ) from None
        object.__setattr__(self, "method", method)
        if self.top_k is None:
            default = (
                CONTRASTIVE_TOP_K_DEFAULT
                if method is DecodingMethod.CONTRASTIVE
                else SAMPLING_TOP_K_DEFAULT
            )
            object.__setattr__(self, "top_k", default)
        _check_int("max_new_tokens", self.max_new_tokens, MAX_NEW_TOKENS_MIN, None)
        _check_int("num_beams", self.num_beams, *NUM_BEAMS_RANGE)
        _check_int("no_repeat_ngram_size", self.no_repeat_ngram_size, *NO_REPEAT_NGRAM_RANGE)
        _check_float("length_penalty", self.length_penalty, *LENGTH_PENALTY_RANGE)
        _check_float("penalty_alpha", self.penalty_alpha, *PENALTY_ALPHA_RANGE)
        top_k_range = (
            CONTRASTIVE_TOP_K_RANGE
            if method is DecodingMethod.CONTRASTIVE
            else SAMPLING_TOP_K_RANGE
        )
        _check_int("top_k", self.top_k, *top_k_range)
        _check_float("temperature", self.temperature, *TEMPERATURE_RANGE)
        _check_top_p(self.top_p)
        if self.seed is not None:
            _check_int("seed", self.seed, *SEED_RANGE)
        for name in ("length_penalty", "penalty_alpha", "temperature", "top_p"):
            object.__setattr__(self, name, float(getattr(self, name)))

    @property
    def resolved_top_k(self) -> int:
        """`top_k` with its method's default filled in (construction always fills it)."""
        if self.top_k is None:  # only if a caller bypassed __post_init__
            raise ValueError("top_k was not resolved")
        return self.top_k

    def validate(self, ceiling: int) -> Self:
        """Check `max_new_tokens` against the runner's ceiling; returns self for chaining."""
        if self.max_new_tokens > ceiling:
            raise InvalidRequest(
                f"max_new_tokens must be between {MAX_NEW_TOKENS_MIN} and {ceiling} "
                f"(got {self.max_new_tokens})",
                field="max_new_tokens",
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict (the method as its string value, top_k resolved)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["method"] = self.method.value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, ceiling: int | None = None) -> Self:
        """Build from a JSON dict, ignoring unknown keys; with `ceiling`, also `validate` it."""
        names = {f.name for f in fields(cls)}
        params = cls(**{k: v for k, v in data.items() if k in names})
        return params if ceiling is None else params.validate(ceiling)


def _show(value: object) -> str:
    """A number as a person would write it: 5 rather than 5.0, 0.05 rather than 5e-02."""
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _range_error(
    name: str, value: object, low: float, high: float | None, kind: str = ""
) -> InvalidRequest:
    """`kind` (e.g. "a whole number ") is said only when the value has the wrong type."""
    if high is None:
        bounds = f"{kind}of at least {_show(low)}" if kind else f"at least {_show(low)}"
    else:
        bounds = f"{kind}between {_show(low)} and {_show(high)}"
    return InvalidRequest(f"{name} must be {bounds} (got {_show(value)})", field=name)


def _check_int(name: str, value: object, low: int, high: int | None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _range_error(name, value, low, high, "a whole number ")
    if value < low or (high is not None and value > high):
        raise _range_error(name, value, low, high)


def _check_float(name: str, value: object, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise _range_error(name, value, low, high, "a number ")  # includes NaN
    if not low <= value <= high:
        raise _range_error(name, value, low, high)


def _check_top_p(value: object) -> None:
    ok = not isinstance(value, bool) and isinstance(value, int | float) and 0.0 < value <= 1.0
    if not ok:
        raise InvalidRequest(
            f"top_p must be greater than 0 and at most 1 (got {_show(value)})", field="top_p"
        )
