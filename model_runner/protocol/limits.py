"""Every limit of the runner's operations, and the one set of checks that enforces them.

The bot reads the same constants for its command options; a request object checks its fields
against them once, when it is built (in the bot, or in the HTTP handler from JSON), with a
message that names the field and its allowed range. What only the runner can know (its
configured ceiling on new tokens, the model's positions and layers, which adapters exist) it
checks itself.
"""

from __future__ import annotations

import re

from model_runner.protocol.errors import InvalidRequest

# --- text ------------------------------------------------------------------------------------
MAX_TEXT_CHARS = 2000  # a prompt or a text to analyse

# --- decoding (transformers' generate() names) -------------------------------------------------
MAX_NEW_TOKENS_RANGE = (1, 1024)  # the runner's configured ceiling is usually lower
COMPARE_MAX_NEW_TOKENS_DEFAULT = 50
NUM_BEAMS_RANGE = (2, 10)
NO_REPEAT_NGRAM_RANGE = (0, 10)
LENGTH_PENALTY_RANGE = (-5.0, 5.0)
PENALTY_ALPHA_RANGE = (0.0, 1.0)
CONTRASTIVE_TOP_K_RANGE = (1, 20)
SAMPLING_TOP_K_RANGE = (0, 1000)
TEMPERATURE_RANGE = (0.05, 5.0)
SEED_RANGE = (0, 2**32 - 1)
CONTRASTIVE_TOP_K_DEFAULT = 4  # candidates re-ranked per step (the lab's setting)
SAMPLING_TOP_K_DEFAULT = 50  # transformers' default for sampling
BEAM_TRACE_MAX_NEW_TOKENS_RANGE = (1, 32)  # steps of a traced beam search (a tree to read)
BEAM_TRACE_MAX_NEW_TOKENS_DEFAULT = 6

# --- next token -----------------------------------------------------------------------------
NEXT_TOKEN_TOP_RANGE = (1, 50)
NEXT_TOKEN_TOP_DEFAULT = 10

# --- step-through: a continuation built one token at a time -----------------------------------
STEP_TOKENS_MAX = 40  # tokens a step-through adds at most (the prompt must leave room for them)
STEP_TOP_RANGE = (1, 10)  # candidates shown per step
STEP_TOP_DEFAULT = 5

# --- attention, embeddings, train step --------------------------------------------------------
MAX_TOKENS = 64  # tokens of a text for /attention and /trainstep (the matrix is at most 64x64)
WORDS_RANGE = (1, 8)  # words per /embedding request
MAX_WORD_CHARS = 40
TOP_RANGE = (1, 20)  # nearest tokens per word
TOP_DEFAULT = 8
STEPS_RANGE = (1, 10)  # gradient steps of /trainstep
STEPS_DEFAULT = 3
LEARNING_RATE_RANGE = (1e-5, 1e-1)  # AdamW step size on the throwaway LoRA adapter
LEARNING_RATE_DEFAULT = 5e-3
TRAIN_STEP_RANK = 8  # LoRA rank r of the throwaway adapter (lora_alpha = 2r)

# --- fine-tunes ------------------------------------------------------------------------------
SENTENCES_RANGE = (1, 500)
MAX_SENTENCE_CHARS = 500
EPOCHS_RANGE = (1, 20)
FINETUNE_LEARNING_RATE_RANGE = (1e-5, 1e-2)
RANK_RANGE = (1, 64)
BATCH_SIZE_RANGE = (1, 32)
MAX_LENGTH_RANGE = (8, 256)
FINETUNE_SEED_RANGE = (0, 2**31 - 1)
HELD_OUT_RANGE = (0, 100)  # sentences held out of a fine-tune (training keeps at least one)

# --- alignment (DPO on preference pairs) ------------------------------------------------------
PAIRS_RANGE = (1, 500)  # preference pairs of one alignment run
BETA_RANGE = (0.01, 1.0)  # DPO's beta: how far the policy may move from the reference
PAIR_BATCH_RANGE = (1, 16)  # pairs per optimiser step
PAIR_MAX_LENGTH_RANGE = (16, 512)  # tokens of a prompt and its response together

# --- ids -------------------------------------------------------------------------------------
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # adapter and job ids (fullmatch)


def show(value: object) -> str:
    """A value as a person would write it: 5 rather than 5.0, 0.05 rather than 5e-02."""
    if isinstance(value, float):
        return f"{value:g}"
    return repr(value) if isinstance(value, str) else str(value)


def _range_error(
    name: str, value: object, low: float, high: float | None, kind: str = ""
) -> InvalidRequest:
    """`kind` (e.g. "a whole number ") is said only when the value has the wrong type."""
    if high is None:
        bounds = f"{kind}of at least {show(low)}" if kind else f"at least {show(low)}"
    else:
        bounds = f"{kind}between {show(low)} and {show(high)}"
    return _invalid(name, f"must be {bounds} (got {show(value)})")


def _invalid(name: str, rest: str) -> InvalidRequest:
    """`<name> <rest>`, keeping the template so a caller can say its own name for the field."""
    template = "{field} " + rest.replace("{", "{{").replace("}", "}}")
    return InvalidRequest(f"{name} {rest}", field=name, template=template)


def check_int(name: str, value: object, low: int, high: int | None) -> int:
    """A whole number within [low, high] (no upper bound for None)."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise _range_error(name, value, low, high, "a whole number ")
    if value < low or (high is not None and value > high):
        raise _range_error(name, value, low, high)
    return value


def check_optional_int(name: str, value: object, low: int, high: int | None) -> int | None:
    """None, or a whole number within [low, high]."""
    return None if value is None else check_int(name, value, low, high)


def check_float(name: str, value: object, low: float, high: float) -> float:
    """A number within [low, high] (NaN is refused)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        raise _range_error(name, value, low, high, "a number ")
    if not low <= value <= high:
        raise _range_error(name, value, low, high)
    return float(value)


def check_top_p(value: object) -> float:
    """A share of probability mass: above 0, at most 1."""
    if isinstance(value, int | float) and not isinstance(value, bool) and 0.0 < value <= 1.0:
        return float(value)
    raise _invalid("top_p", f"must be greater than 0 and at most 1 (got {show(value)})")


def check_text(text: object, name: str = "text") -> str:
    """Non-empty text of at most MAX_TEXT_CHARS characters."""
    if not isinstance(text, str):
        raise _invalid(name, f"must be text (got {show(text)})")
    if not text.strip():
        raise _invalid(name, "must not be empty")
    if len(text) > MAX_TEXT_CHARS:
        raise _invalid(name, f"must be at most {MAX_TEXT_CHARS} characters (got {len(text)})")
    return text


def check_lines(
    name: str, values: object, count: tuple[int, int], max_chars: int, noun: str
) -> list[str]:
    """A list of text items, blank ones dropped and edges stripped: `count` items of at most
    `max_chars` characters each."""
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidRequest(f"{name} must be a list of text", field=name)
    cleaned = [v.strip() for v in values if v.strip()]
    low, high = count
    if not low <= len(cleaned) <= high:
        raise InvalidRequest(
            f"{name} must hold {low}-{high} {noun}s (got {len(cleaned)})", field=name
        )
    long = next((v for v in cleaned if len(v) > max_chars), None)
    if long is not None:
        raise InvalidRequest(
            f"each {noun} must be at most {max_chars} characters (got {len(long)})", field=name
        )
    return cleaned


def check_token_ids(name: str, values: object, most: int) -> list[int]:
    """A list of at most `most` token ids (whole numbers of at least 0); the runner checks
    them against its vocabulary."""
    if not isinstance(values, list | tuple) or not all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in values
    ):
        raise _invalid(name, "must be a list of token ids (whole numbers of at least 0)")
    if len(values) > most:
        raise _invalid(name, f"must hold at most {most} tokens (got {len(values)})")
    return list(values)


def valid_id(value: object) -> bool:
    """1-128 letters, digits, '.', '_' or '-', starting with a letter or digit, no '..'."""
    return isinstance(value, str) and _ID.fullmatch(value) is not None and ".." not in value


def check_id(name: str, value: object) -> str:
    """An adapter or job id (safe as a directory name on every replica)."""
    if not valid_id(value):
        raise InvalidRequest(
            f"{name} must be 1-128 letters, digits, '.', '_' or '-' (got {show(value)})",
            field=name,
        )
    assert isinstance(value, str)
    return value
