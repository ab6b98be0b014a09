"""The in-context column of /compare models: which examples, and the few-shot prompt built."""

from __future__ import annotations

from types import SimpleNamespace

from bot.exts.sampling._models import few_shot_prompt, pick_examples, run_columns
from bot.fine_tuned import ModelChoice
from model_runner.protocol import DecodingParams, Generate

POOL = [f"Sentence number {n} ends here." for n in range(24)]


def test_examples_are_spread_over_the_pool_and_stable_per_prompt():
    chosen = pick_examples(POOL, "Once upon a time")
    assert len(chosen) == 4 and len(set(chosen)) == 4
    assert set(chosen) <= set(POOL)
    assert pick_examples(POOL, "Once upon a time") == chosen
    positions = sorted(POOL.index(s) for s in chosen)
    assert max(b - a for a, b in zip(positions, positions[1:], strict=False)) <= 6 * 3
    assert any(pick_examples(POOL, f"prompt {n}") != chosen for n in range(5))


def test_small_pools_duplicates_and_empty_pools():
    assert sorted(pick_examples(["a b", "a b", "c d"], "x")) == ["a b", "c d"]
    assert pick_examples([], "x") == []
    long = ["word " * 250] * 1 + ["short one"]
    assert (
        "short one" in pick_examples(long, "x") and sum(map(len, pick_examples(long, "x"))) <= 1200
    )


def test_the_few_shot_prompt_puts_examples_before_the_prompt():
    assert few_shot_prompt(["One STOP", "Two STOP"], "Three") == "One STOP\nTwo STOP\nThree"
    assert few_shot_prompt([], "Three") == "Three"


class FakeRunner:
    def __init__(self):
        self.calls = []

    async def call(self, op):
        assert isinstance(op, Generate)
        self.calls.append((op.prompt, op.adapter))
        return SimpleNamespace(text=f"<{op.adapter}>", model="tiny", compute_ms=1, energy_wh=0)


async def test_three_columns_run_the_right_prompts_and_models():
    runner = FakeRunner()
    tuned = ModelChoice("Fine-tuned v2", "adapter-v2")
    columns = await run_columns(runner, "Three", DecodingParams(), tuned, ["One", "Two"])
    assert [c.heading for c in columns] == [
        "Pre-trained",
        "In-context (2 examples)",
        "Fine-tuned v2",
    ]
    assert sorted(runner.calls, key=str) == sorted(
        [("Three", None), ("One\nTwo\nThree", None), ("Three", "adapter-v2")], key=str
    )
    assert columns[2].result.text == "<adapter-v2>"


async def test_without_a_fine_tune_the_column_says_how_to_get_one():
    runner = FakeRunner()
    columns = await run_columns(runner, "Three", DecodingParams(), None, ["One"])
    assert columns[2].result is None and "/finetune start" in columns[2].note
    assert len(runner.calls) == 2
