"""The prompt a student gives a model command: what is accepted, said in one short line."""

from __future__ import annotations

from bot.errors import LabError

MAX_PROMPT = 1000  # characters: room in a reply for the prompt and what the model adds


def check_prompt(prompt: str) -> str:
    """A prompt with something in it, not too long for the model or for Discord."""
    if not prompt.strip():
        raise LabError("The prompt is empty: give the model some text to continue.")
    if len(prompt) > MAX_PROMPT:
        raise LabError(f"The prompt is too long ({len(prompt)} characters; at most {MAX_PROMPT}).")
    return prompt
