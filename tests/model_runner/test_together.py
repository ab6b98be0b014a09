"""`/compare`'s columns run all together or not at all: one refused column cancels the rest."""

from __future__ import annotations

import asyncio
import gc
from types import SimpleNamespace

import pytest

from bot.exts.sampling._models import run_columns
from model_runner.protocol import Compare, DecodingParams, RunnerBusy
from model_runner.protocol.together import all_or_none
from model_runner.runner import ModelRunner


class Columns:
    """A stand-in runner: the `busy`-th generate call is refused, the others never finish."""

    def __init__(self, busy: int) -> None:
        self.busy, self.calls, self.cancelled = busy, 0, 0
        self.config = SimpleNamespace(model="tiny", max_new_tokens=50)

    def _check_ceiling(self, max_new_tokens):
        assert max_new_tokens <= self.config.max_new_tokens

    async def call(self, op):
        return await getattr(self, op.name)(op)

    async def generate(self, op):
        self.calls += 1
        if self.calls == self.busy:
            await asyncio.sleep(0.01)
            raise RunnerBusy("queue full", retry_after=2)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.cancelled += 1
            raise


async def test_results_come_back_in_order():
    async def value(n, delay):
        await asyncio.sleep(delay)
        return n

    assert await all_or_none(value(1, 0.02), value(2, 0), value(3, 0.01)) == [1, 2, 3]


async def test_a_busy_compare_column_cancels_the_other_three():
    runner = Columns(busy=2)
    with pytest.raises(RunnerBusy):
        await asyncio.wait_for(ModelRunner.compare(runner, Compare("Hello", 5)), timeout=5)
    assert runner.cancelled == 3


async def test_a_busy_model_column_cancels_the_others():
    runner = Columns(busy=1)
    tuned = SimpleNamespace(label="Fine-tuned v1", adapter="g1-v1")
    params = DecodingParams(max_new_tokens=5)
    with pytest.raises(RunnerBusy):
        await asyncio.wait_for(
            run_columns(runner, "Hello", params, tuned, ["An example."]), timeout=5
        )
    assert runner.cancelled == 2


async def test_columns_failing_together_leave_no_unretrieved_exception():
    """Every column of a too-long prompt fails at once: one error is raised, and asyncio
    must not log "Task exception was never retrieved" for the others."""
    reported = []
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(lambda _loop, context: reported.append(context))

    async def refused(n):
        raise ValueError(f"column {n} is too long")

    with pytest.raises(ValueError, match="column 0"):
        await all_or_none(*(refused(n) for n in range(4)))
    gc.collect()  # unretrieved exceptions are reported when their task is collected
    await asyncio.sleep(0)
    assert reported == []
