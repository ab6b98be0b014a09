"""The batching engine: many requests share forward passes and get exactly their own tokens."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from model_runner.decoding import choice
from model_runner.decoding.run import generate, stepper_for
from model_runner.engine.engine import DecodeEngine, DecodeJob, RequestCancelled, RequestTimeout
from model_runner.engine.head import StepLogits
from model_runner.protocol import DecodingParams, RunnerBusy
from model_runner.tiny import build_tiny
from tests.model_runner.test_fault_isolation import one_batch

PROMPTS = [
    "The best thing about AI is",
    "Mix the flour",
    "Once upon a time, a curious",
    "Greedy search always",
]
SETTINGS = [
    {"method": "greedy"},
    {"method": "sampling", "seed": 7, "temperature": 0.8, "top_p": 0.9},
    {"method": "beam", "num_beams": 5},
    {"method": "contrastive", "penalty_alpha": 0.6, "top_k": 4},
    {"method": "beam", "num_beams": 3, "no_repeat_ngram_size": 2, "length_penalty": 0.5},
    {"method": "sampling", "seed": 11, "top_k": 5},
]


@pytest.fixture(scope="module")
def model_and_tokenizer():
    model, tokenizer = build_tiny(seed=1)
    with torch.no_grad():  # sharper distributions than raw random weights (fewer loops)
        for parameter in model.parameters():
            parameter.mul_(8)
    return model, tokenizer


@pytest.fixture
def engine(model_and_tokenizer):
    model, _ = model_and_tokenizer
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=64, max_rows=64)
    thread = threading.Thread(target=engine.run, daemon=True, name="decode-engine")
    thread.start()
    yield engine
    engine.stop()
    thread.join(timeout=10)


def job_for(tokenizer, prompt: str, settings: dict, n: int, eos: int | None) -> DecodeJob:
    params = DecodingParams(max_new_tokens=n, **settings)
    return DecodeJob(tokenizer(prompt)["input_ids"], stepper_for(params, eos, eos, "cpu"))


def solo(model, tokenizer, prompt: str, settings: dict, n: int, eos: int | None) -> list[int]:
    params = DecodingParams(max_new_tokens=n, **settings)
    return generate(model, tokenizer(prompt)["input_ids"], params, eos, eos)


def test_a_burst_of_mixed_requests_matches_running_each_alone(engine, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    cases = [(PROMPTS[i % 4], SETTINGS[i % 6], 8 + i, None) for i in range(18)]
    jobs = [job_for(tokenizer, *case) for case in cases]
    for job in jobs:
        engine.submit(job)
    results = [job.future.result(timeout=120).tokens for job in jobs]
    assert results == [solo(model, tokenizer, *case) for case in cases]
    longest = max(case[2] for case in cases)
    assert engine.steps < longest + 10  # shared steps, not one request after another


def test_requests_join_while_others_are_decoding(engine, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    eos = tokenizer.eos_token_id
    first = [job_for(tokenizer, PROMPTS[i], SETTINGS[i], 30, eos) for i in range(4)]
    for job in first:
        engine.submit(job)
    while engine.steps < 5:
        time.sleep(0.005)
    later = [job_for(tokenizer, PROMPTS[i], SETTINGS[i + 2], 12, eos) for i in range(4)]
    for job in later:
        engine.submit(job)
    got = [job.future.result(timeout=120).tokens for job in first + later]
    want = [solo(model, tokenizer, PROMPTS[i], SETTINGS[i], 30, eos) for i in range(4)]
    want += [solo(model, tokenizer, PROMPTS[i], SETTINGS[i + 2], 12, eos) for i in range(4)]
    assert got == want


def test_the_engine_counts_where_its_time_goes(engine, model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    before = dict(engine.spent)
    start = time.perf_counter()
    jobs = [job_for(tokenizer, PROMPTS[i % 4], SETTINGS[i], 12, None) for i in range(6)]
    for job in jobs:
        engine.submit(job)
    for job in jobs:
        job.future.result(timeout=60)
    wall = time.perf_counter() - start
    spent = {name: engine.spent[name] - before[name] for name in engine.spent}
    assert set(spent) == {"prompts", "forward", "logits", "decisions", "layout"}
    assert all(seconds > 0 for seconds in spent.values()), spent
    assert sum(spent.values()) <= wall
    assert spent["forward"] < sum(spent.values())  # the parts are apart, not nested


# One-row methods between beams (and candidates, whose unchosen rows get no logits): their
# rows lie apart in the batch.
@pytest.mark.parametrize("order", [[0, 2, 1, 3, 0, 4, 5], [0, 2, 1, 0, 4, 5]])
def test_each_request_reads_its_logits_without_a_copy(model_and_tokenizer, monkeypatch, order):
    model, tokenizer = model_and_tokenizer
    reads: list[bool] = []  # whether each lookup of a step's logits was a view
    original = StepLogits.of

    def of(self, rows):
        got = original(self, rows)
        shared = got.untyped_storage().data_ptr() == self.tensor.untyped_storage().data_ptr()
        reads.append(shared)
        return got

    monkeypatch.setattr(StepLogits, "of", of)
    taken = choice.take_rows

    def take(scores, rows):  # greedy search's rows and sampling's, each read as a block
        got = taken(scores, rows)
        reads.append(got.untyped_storage().data_ptr() == scores.untyped_storage().data_ptr())
        return got

    monkeypatch.setattr(choice, "take_rows", take)
    cases = [(PROMPTS[0], SETTINGS[i], 10, None) for i in order]
    jobs = [job_for(tokenizer, *case) for case in cases]
    with one_batch(model, *jobs):
        got = [job.future.result(timeout=60).tokens for job in jobs]
    assert got == [solo(model, tokenizer, *case) for case in cases]
    assert len(reads) > 20 and all(reads)


def test_outcome_reports_queue_and_compute_time(engine, model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    job = job_for(tokenizer, PROMPTS[0], SETTINGS[0], 5, None)
    outcome = engine.submit(job).result(timeout=60)
    assert len(outcome.tokens) == 5
    assert outcome.compute_s > 0 and outcome.queue_s >= 0


def test_cancelled_request_leaves_the_batch(engine, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    stays = job_for(tokenizer, PROMPTS[1], SETTINGS[2], 40, None)
    leaves = job_for(tokenizer, PROMPTS[0], SETTINGS[0], 400, None)
    engine.submit(stays)
    engine.submit(leaves)
    while engine.steps < 3:
        time.sleep(0.005)
    leaves.cancel()
    with pytest.raises(RequestCancelled):
        leaves.future.result(timeout=60)
    assert stays.future.result(timeout=60).tokens == solo(
        model, tokenizer, PROMPTS[1], SETTINGS[2], 40, None
    )


def test_request_past_its_time_limit_fails(engine, model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    job = job_for(tokenizer, PROMPTS[0], SETTINGS[0], 400, None)
    job.timeout_s = 0.05
    with pytest.raises(RequestTimeout, match="longer than"):
        engine.submit(job).result(timeout=60)


def test_full_queue_says_when_to_retry(model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    engine = DecodeEngine(model, torch.device("cpu"), queue_size=2)  # not running: all wait
    engine.submit(job_for(tokenizer, PROMPTS[0], SETTINGS[0], 5, None))
    engine.submit(job_for(tokenizer, PROMPTS[0], SETTINGS[0], 5, None))
    with pytest.raises(RunnerBusy) as caught:
        engine.submit(job_for(tokenizer, PROMPTS[0], SETTINGS[0], 5, None))
    assert caught.value.retry_after >= 1 and "busy" in str(caught.value)


def test_calls_run_between_steps(engine, model_and_tokenizer):
    _, tokenizer = model_and_tokenizer
    long_job = job_for(tokenizer, PROMPTS[0], SETTINGS[2], 60, None)
    engine.submit(long_job)
    while engine.steps < 2:
        time.sleep(0.005)
    ran_on = engine.call(lambda: threading.current_thread().name).result(timeout=30)
    assert ran_on == "decode-engine"  # on the engine's own thread, between two decode steps
    assert not long_job.future.done()  # answered while the long request was still decoding
    long_job.cancel()


def test_background_work_leaves_decoding_its_fair_share(engine, model_and_tokenizer):
    """A fine-tune's slices (0.2 s each here) must not stand between every two decode steps:
    after each slice, decoding gets as long again, so 30 tokens come in a few slices' time."""
    from model_runner.engine.engine import BackgroundWork

    _, tokenizer = model_and_tokenizer
    slices = []

    def slow_steps():
        for _ in range(40):
            time.sleep(0.2)
            slices.append(time.perf_counter())
            yield None

    work = BackgroundWork(slow_steps())
    engine.run_in_background(work)
    time.sleep(0.3)  # the fine-tune is under way
    start = time.perf_counter()
    job = job_for(tokenizer, "Mix the flour", {}, 30, None)
    engine.submit(job).result(timeout=30)
    took = time.perf_counter() - start
    assert took < 30 * 0.2 / 2  # one slice per token would take 6 s
    during = [t for t in slices if start <= t <= start + took]
    assert len(during) <= took / 0.2 / 2 + 1  # at most about half the time went to slices
    work.future.cancel()


def test_short_background_work_takes_turns_with_a_long_one(engine):
    """A /trainstep (a few slices) queued behind a class's fine-tunes (many slices) is done
    after a few turns, not after the fine-tunes."""
    from model_runner.engine.engine import BackgroundWork

    order = []

    def steps(name: str, count: int):
        for n in range(count):
            time.sleep(0.01)
            order.append((name, n))
            yield n

    long_work = BackgroundWork(steps("fine-tunes", 200))
    engine.run_in_background(long_work)
    time.sleep(0.05)
    short = engine.run_in_background(BackgroundWork(steps("trainstep", 3)))
    assert short.result(timeout=10) == 2
    done_at = order.index(("trainstep", 2))
    assert sum(1 for name, _ in order[:done_at] if name == "fine-tunes") < 20
    assert not long_work.future.done()
    long_work.future.cancel()
