"""The model's context window: how many tokens it can read at once, checked per request.

A model has a fixed number of positions (GPT-2: 1,024). A prompt and the new tokens asked
for must fit in them together; a row past the last position would index past the
position table and fail the forward pass (on a GPU, the whole CUDA context). Characters
are no guide: an emoji or a CJK character can take several GPT-2 tokens. So every request
is measured in tokens when it arrives, and refused with a message a student can act on.
"""

from __future__ import annotations

from model_runner.protocol import InvalidRequest


def check_fits(
    prompt_tokens: int, new_tokens: int, limit: int | None, field: str = "prompt"
) -> None:
    """`prompt_tokens` plus `new_tokens` within the model's `limit` positions (None: no limit)."""
    if limit is None or prompt_tokens + new_tokens <= limit:
        return
    what = "prompt" if field == "prompt" else "text"
    if new_tokens:
        room = limit - new_tokens
        raise InvalidRequest(
            f"The {what} is too long for the model: it is {prompt_tokens:,} tokens, and the "
            f"model reads at most {limit:,} tokens at a time, including the {new_tokens:,} new "
            f"ones asked for. Shorten it to at most {max(room, 0):,} tokens, or ask for fewer "
            "new tokens (emoji and some alphabets take several tokens per character).",
            field=field,
        )
    raise InvalidRequest(
        f"The {what} is too long for the model: it is {prompt_tokens:,} tokens, and the model "
        f"reads at most {limit:,} tokens at a time. Shorten it (emoji and some alphabets take "
        "several tokens per character).",
        field=field,
    )
