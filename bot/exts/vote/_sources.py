"""What a vote is on: a prompt run through the four decoding methods now, or a row of a
group's decoding-methods table taken as it is (its outputs and settings)."""

from __future__ import annotations

from dataclasses import dataclass

from bot import prompts
from bot.errors import LabError
from bot.formatting import quoted
from bot.storage import groups, tables
from bot.storage.database import Database
from model_runner.client import RunnerClient
from model_runner.protocol import COMPARE_METHODS, Compare


@dataclass(frozen=True)
class VoteSource:
    """The four continuations to vote on, and what made them."""

    prompt: str
    outputs: dict[str, str]  # method -> continuation
    model: str
    max_tokens: int  # 0: not recorded (a table row from before the bot kept it)
    seed: int | None
    source: str = ""  # where they came from, "" for a run made for the vote


def check_prompt(prompt: str, max_tokens: int, ceiling: int) -> None:
    """A prompt with something in it, not too long, asking for no more tokens than allowed."""
    prompts.check_prompt(prompt)
    if max_tokens > ceiling:
        raise LabError(f"max_tokens must be between 1 and {ceiling} (got {max_tokens})")


async def from_prompt(runner: RunnerClient, prompt: str, max_tokens: int, seed: int) -> VoteSource:
    """The lab's four methods on `prompt`, run now (one batched Compare)."""
    result = await runner.call(Compare(prompt, max_tokens, seed))
    outputs = {r.method: r.text for r in result.results}
    return VoteSource(prompt, outputs, result.model, max_tokens, seed)


async def from_table_row(db: Database, guild_id: int, group_name: str, number: int) -> VoteSource:
    """Row `number` (1-based, as /table show numbers it) of a group's decoding-methods table."""
    group = await groups.find(db, guild_id, group_name)
    if group is None:
        raise LabError(f"There is no group named {quoted(group_name)} with a table.")
    rows = await tables.rows(db, group.id, "decoding")
    if not rows:
        raise LabError(f"{group.name}'s decoding-methods table is empty.")
    if number > len(rows):
        raise LabError(
            f"{group.name}'s decoding-methods table has {len(rows)} rows: choose 1-{len(rows)}."
        )
    row = rows[number - 1]
    if any(method not in row.columns for method in COMPARE_METHODS):
        raise LabError(f"Row {number} of {group.name}'s table lacks a method's output.")
    return VoteSource(
        prompt=row.prompt,
        outputs={method: row.columns[method] for method in COMPARE_METHODS},
        model=row.model,
        max_tokens=row.max_tokens or 0,
        seed=row.seed,
        source=f"{group.name}'s table, row {number}",
    )
