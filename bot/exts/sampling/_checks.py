"""What the decoding commands check before anything runs: the prompt and the settings."""

from __future__ import annotations

from bot.errors import LabError
from bot.prompts import check_prompt as check_prompt
from model_runner.protocol import DecodingParams, InvalidRequest


def decoding_params(ceiling: int, **values) -> DecodingParams:
    """Validated parameters; errors use the command's option names."""
    try:
        params = DecodingParams(**values)
    except InvalidRequest as error:
        option = OPTION_NAMES.get(error.field or "", error.field or "")
        raise LabError(error.named(option)) from None
    if params.max_new_tokens > ceiling:
        raise LabError(f"max_tokens must be between 1 and {ceiling} (got {params.max_new_tokens})")
    return params


# The runner's names for what the commands call otherwise.
OPTION_NAMES = {"max_new_tokens": "max_tokens", "min_new_tokens": "min_tokens"}
