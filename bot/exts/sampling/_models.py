"""`/compare models:`: the pre-trained model, in-context learning and the fine-tuned model.

In-context learning (few-shot prompting) changes nothing in the model: the prompt is preceded
by a few example sentences, and the pre-trained model continues the pattern as best it can.
Fine-tuning changes the weights (here a LoRA adapter). Side by side, a group sees what each
one buys. The examples are sentences the fine-tune trained on (the group's pool, or the
built-in example dataset), so the two columns learn from the same data.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from bot.fine_tuned import PRETRAINED_CHOICE, ModelChoice
from model_runner.client import RunnerClient
from model_runner.protocol import DecodingParams, Generate, GenerateResult
from model_runner.protocol.together import all_or_none

SHOTS = 4  # example sentences before the prompt
MAX_EXAMPLE_CHARS = 1200  # keeps the few-shot prompt well inside the model's context


@dataclass(frozen=True)
class Column:
    """One column of the comparison: its heading, what ran, and what came out."""

    key: str  # pretrained, incontext, finetuned (the table's column keys)
    heading: str
    result: GenerateResult | None
    note: str = ""  # shown instead of a result, e.g. why a column is empty


def pick_examples(sentences: list[str], prompt: str, shots: int = SHOTS) -> list[str]:
    """`shots` sentences spread over the list, starting at a place that depends on the prompt:
    the same prompt always gets the same examples, different prompts see different ones."""
    unique = list(dict.fromkeys(s.strip() for s in sentences if s.strip()))
    if not unique:
        return []
    start = int(hashlib.sha256(prompt.encode()).hexdigest(), 16) % len(unique)
    stride = max(1, len(unique) // shots)
    chosen: list[str] = []
    used = 0
    for n in range(min(shots, len(unique))):
        sentence = unique[(start + n * stride) % len(unique)]
        if sentence in chosen or used + len(sentence) > MAX_EXAMPLE_CHARS:
            continue
        chosen.append(sentence)
        used += len(sentence)
    return chosen


def few_shot_prompt(examples: list[str], prompt: str) -> str:
    """The examples one per line, then the prompt on its own line for the model to continue."""
    return "".join(f"{example}\n" for example in examples) + prompt


async def run_columns(
    runner: RunnerClient,
    prompt: str,
    params: DecodingParams,
    tuned: ModelChoice | None,
    examples: list[str],
) -> list[Column]:
    """Run the three columns at once (their rows share the runner's forward passes)."""
    jobs = {"pretrained": runner.call(Generate(prompt, params))}
    if examples:
        jobs["incontext"] = runner.call(Generate(few_shot_prompt(examples, prompt), params))
    if tuned is not None and tuned.adapter is not None:
        jobs["finetuned"] = runner.call(Generate(prompt, params, tuned.adapter))
    # A column refused (the runner is busy) cancels the others: their text would be wasted.
    results = dict(zip(jobs, await all_or_none(*jobs.values()), strict=True))
    columns = [Column("pretrained", PRETRAINED_CHOICE.label, results["pretrained"])]
    columns.append(
        Column(
            "incontext",
            f"In-context ({len(examples)} examples)",
            results.get("incontext"),
            "" if examples else "No examples: the group's pool is empty.",
        )
    )
    columns.append(
        Column(
            "finetuned",
            tuned.label if tuned else "Fine-tuned",
            results.get("finetuned"),
            "" if tuned else "No fine-tune yet: /finetune start or /finetune example.",
        )
    )
    return columns


def answered_by(columns: list[Column]) -> str:
    """The model the runner named in its results (every column runs on the same runner)."""
    return next((c.result.model for c in columns if c.result is not None), "")
