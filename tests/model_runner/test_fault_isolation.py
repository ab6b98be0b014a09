"""No request can take the model away from the class: limits in tokens at the edge, failures
kept to the request that caused them, peft's state restored, a dead engine thread restarted."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading

import pytest
import torch

from model_runner.decoding.run import generate, stepper_for
from model_runner.decoding.stepping import Decision
from model_runner.engine.engine import DecodeEngine, DecodeJob, RequestFailed, RequestTimeout
from model_runner.protocol import (
    Attention,
    DecodingParams,
    Generate,
    Info,
    InvalidRequest,
    Loss,
    NextToken,
    RunnerBusy,
    RunnerUnavailable,
)
from model_runner.runner import ModelRunner, RunnerConfig
from model_runner.tiny import build_tiny

EMOJI = "😀" * 250  # 1,000 tokens of the tiny byte-level tokenizer: past 1,024 with 100 new
GREEDY = DecodingParams(max_new_tokens=6)


async def answered(coro, timeout: float = 20):
    """The result, or a test failure instead of a hang when the engine is gone."""
    return await asyncio.wait_for(coro, timeout)


# --- the blocker: a prompt near the context length -------------------------------------------


async def test_a_prompt_too_long_in_tokens_is_refused_and_the_class_keeps_its_model(runner):
    with pytest.raises(InvalidRequest) as refused:
        await answered(runner.call(Generate(EMOJI, DecodingParams(max_new_tokens=100))))
    message = str(refused.value)
    assert "1,000 tokens" in message and "at most 1,024 tokens" in message
    assert "at most 924 tokens" in message and refused.value.field == "prompt"
    # Another member right after: answered, and the runner still says ready.
    result = await answered(runner.call(Generate("Hello", GREEDY)))
    assert len(result.token_ids) >= 1
    assert (await runner.call(Info())).status == "ready"


async def test_the_same_prompt_fits_with_fewer_new_tokens(runner):
    result = await answered(runner.call(Generate(EMOJI, DecodingParams(max_new_tokens=24))))
    assert result.finish_reason in ("eos", "length")


@pytest.mark.parametrize("operation", [Loss, NextToken])
async def test_one_off_operations_are_measured_in_tokens_too(runner, operation):
    text = "😀" * 300  # 1,200 tokens
    with pytest.raises(InvalidRequest, match="too long for the model: it is 1,20"):
        await answered(runner.call(operation(text)))
    assert (await answered(runner.call(Loss("Mix the flour with the eggs")))).tokens


# --- the engine: failures stay with their request ---------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    return build_tiny(seed=3)


@contextlib.contextmanager
def engine_thread(engine: DecodeEngine):
    """`engine` running on its own thread for the duration of the block, then stopped."""
    thread = threading.Thread(target=engine.run, daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        engine.stop()
        thread.join(timeout=10)


@contextlib.contextmanager
def one_batch(model, *jobs: DecodeJob):
    """An engine with `jobs` queued before its thread starts (so they are admitted together),
    running for the duration of the block."""
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=32, max_rows=64)
    for job in jobs:
        engine.submit(job)
    with engine_thread(engine) as thread:
        yield thread


def _job(tokenizer, prompt: str, n: int = 8) -> DecodeJob:
    eos = tokenizer.eos_token_id
    params = DecodingParams(max_new_tokens=n)
    return DecodeJob(tokenizer(prompt)["input_ids"], stepper_for(params, eos, eos, "cpu"))


class Poisoned:
    """A stepper whose second input token lies outside the vocabulary: the batch's forward
    pass raises at the embedding, for every row in it."""

    prefill_rows = rows = 1
    max_new_tokens = 8
    needs_hidden = False

    def __init__(self, vocab: int) -> None:
        self.vocab = vocab

    def begin(self, prompt, logits, hidden=None) -> Decision:
        return Decision(inputs=[1])

    def advance(self, logits, hidden=None) -> Decision:
        return Decision(inputs=[self.vocab + 7])


def _solo(model, tokenizer, prompt: str, n: int = 8) -> list[int]:
    eos = tokenizer.eos_token_id
    return generate(
        model, tokenizer(prompt)["input_ids"], DecodingParams(max_new_tokens=n), eos, eos
    )


def test_a_failing_step_fails_only_the_request_that_caused_it(tiny):
    model, tokenizer = tiny
    good = [_job(tokenizer, p) for p in ("Mix the flour", "Once upon a time")]
    bad = DecodeJob(tokenizer("Greedy")["input_ids"], Poisoned(model.config.vocab_size))
    with one_batch(model, good[0], bad, good[1]) as thread:
        with pytest.raises(RequestFailed, match="failed on this request"):
            bad.future.result(timeout=20)
        outcomes = [job.future.result(timeout=20) for job in good]
        assert [o.tokens for o in outcomes] == [
            _solo(model, tokenizer, "Mix the flour"),
            _solo(model, tokenizer, "Once upon a time"),
        ]
        assert thread.is_alive()


def test_a_failing_prompt_fails_alone_when_prefilled_with_others(tiny):
    model, tokenizer = tiny
    good = _job(tokenizer, "Mix the flour")
    bad = _job(tokenizer, "Mix the flour")
    bad.prompt_ids = [*bad.prompt_ids, model.config.vocab_size + 3]  # no such token
    with one_batch(model, bad, good):
        with pytest.raises(RequestFailed):
            bad.future.result(timeout=20)
        assert good.future.result(timeout=20).tokens == _solo(model, tokenizer, "Mix the flour")


def test_the_engine_stops_a_row_at_the_models_last_position(tiny):
    """A job that skipped the edge check (prompt plus new tokens past 1,024) fails with a
    clear error instead of indexing past the position table; its batch-mate is unharmed."""
    model, tokenizer = tiny
    long = _job(tokenizer, "Mix the flour", n=50)
    long.prompt_ids = (long.prompt_ids * 1024)[:1020]
    good = _job(tokenizer, "Once upon a time")
    with one_batch(model, long, good):
        with pytest.raises(InvalidRequest, match="limit of 1024 tokens"):
            long.future.result(timeout=30)
        assert good.future.result(timeout=20).tokens == _solo(model, tokenizer, "Once upon a time")


def test_one_off_calls_have_a_queue_bound(tiny):
    model, _ = tiny
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=2)
    engine.call(lambda: 1)
    engine.call(lambda: 2)
    with pytest.raises(RunnerBusy):
        engine.call(lambda: 3)


async def test_one_off_calls_time_out(tmp_path):
    runner = ModelRunner(
        RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path, request_timeout_s=0.3)
    )
    await runner.wait_ready()
    slow_call_ends = threading.Event()
    try:
        with pytest.raises(RequestTimeout):
            await runner._on_worker(lambda loaded: slow_call_ends.wait(30))
        slow_call_ends.set()  # the slow call ends; the queue moves on
        assert (await answered(runner.call(Loss("Mix the flour with the eggs")))).tokens
    finally:
        await runner.close()


# --- peft's routing hooks after a failed pass ----------------------------------------------


async def test_a_failure_inside_peft_leaves_no_routing_hooks_behind(tuned):
    runner = tuned
    before = await answered(runner.call(Generate("Mix the flour", GREEDY, "group-a-v1")))
    engine = runner._engine
    vocab = engine.model.config.vocab_size
    gate = threading.Event()
    engine.call(lambda: gate.wait(10))  # hold the engine so both bad jobs prefill together
    bad = []
    for _ in range(2):
        job = DecodeJob(
            [5, vocab + 1], stepper_for(GREEDY, None, None, "cpu"), adapter="group-a-v1"
        )
        engine.submit(job)
        bad.append(job)
    gate.set()
    for job in bad:
        with pytest.raises(RequestFailed):
            await answered(asyncio.wrap_future(job.future))
    stale = [
        hook
        for module in engine.model.modules()
        for hook in module._forward_pre_hooks.values()
        if isinstance(hook, functools.partial) and "adapter_names" in hook.keywords
    ]
    assert stale == []  # left behind, they would route every later pass (and pile up)
    # Everyone's one-off operations still work.
    assert (await answered(runner.call(Loss("Mix the flour with the eggs")))).tokens
    assert (await answered(runner.call(NextToken("Mix the flour")))).candidates
    assert (await answered(runner.call(Attention("Mix the flour")))).weights
    after = await answered(runner.call(Generate("Mix the flour", GREEDY, "group-a-v1")))
    assert after.token_ids == before.token_ids


# --- the engine thread itself dies ----------------------------------------------------------


async def test_a_dead_engine_thread_is_reported_fails_waiting_requests_and_restarts(runner):
    engine = runner._engine
    original = engine._iteration
    crash = threading.Event()

    def dies_once() -> None:
        if not crash.is_set():
            crash.wait(10)
            engine._iteration = original
            raise SystemExit("simulated crash")
        original()

    crash.clear()
    engine._iteration = dies_once
    await asyncio.sleep(0.7)  # the loop is now inside dies_once, holding the inbox
    waiting = asyncio.ensure_future(runner.call(Generate("Hello", GREEDY)))
    await asyncio.sleep(0.1)
    crash.set()
    with pytest.raises(RunnerUnavailable, match="restarting"):
        await answered(waiting, timeout=5)
    info = await runner.call(Info())
    assert info.status == "failed" and "restarting" in info.error
    with pytest.raises(RunnerUnavailable):
        await runner.call(Generate("Hello", GREEDY))  # refused at once while it is down
    for _ in range(50):
        if (await runner.call(Info())).status == "ready":
            break
        await asyncio.sleep(0.1)
    info = await runner.call(Info())
    assert info.status == "ready" and info.restarts == 1 and "SystemExit" in info.error
    assert (await answered(runner.call(Generate("Hello", GREEDY)))).token_ids


async def test_loading_has_a_deadline(tmp_path, monkeypatch):
    import model_runner.runner as runner_module

    loading_ends = threading.Event()
    monkeypatch.setattr(runner_module, "load_model", lambda *a, **k: loading_ends.wait(30))
    runner = ModelRunner(
        RunnerConfig(model="tiny", device="cpu", data_dir=tmp_path, load_timeout_s=0.2)
    )
    with pytest.raises(RunnerUnavailable, match="took longer than 0.2 s"):
        await runner.wait_ready()
    info = await runner.call(Info())
    assert info.status == "failed" and "took longer than" in info.error
    loading_ends.set()
    await runner.close()
