"""The ceiling benchmark counts a model's arithmetic from its own layers."""

from __future__ import annotations

import os
import threading
import time

import pytest
import torch

from benchmarks.ceiling import burst_gflop, ceiling_gflops, model_shapes
from model_runner.tiny import build_tiny


def test_the_tiny_gpt2s_matrix_products_are_counted_layer_by_layer():
    model, _ = build_tiny()  # 2 layers, 64 wide, 512 tokens
    shapes = model_shapes(model)
    assert shapes.head == (64, len(_vocab(model)))
    assert shapes.body == {(64, 192): 2, (64, 64): 2, (64, 256): 2, (256, 64): 2}
    per_token = 2 * 2 * (64 * 192 + 64 * 64 + 64 * 256 + 256 * 64)
    assert shapes.body_flop == per_token
    # 10 prompt positions and 5 row steps through the body, 6 rows of logits.
    expected = (15 * per_token + 6 * 2 * 64 * shapes.head[1]) / 1e9
    assert burst_gflop(shapes, 10, 5, 6) == expected
    body, head = ceiling_gflops(shapes, rows=8, repeat=2)
    assert body > 0 and head > 0


def _vocab(model):
    return range(model.get_output_embeddings().weight.shape[0])


def test_a_fair_share_slows_the_passes_by_the_threads_competing_for_each_core():
    from benchmarks.burst import EngineRun, fair_share

    def run(prompts: float, forward: float, logits: float, decisions: float) -> EngineRun:
        spent = {"prompts": prompts, "forward": forward, "logits": logits}
        spent |= {"decisions": decisions, "layout": 0.0}
        return EngineRun(0, 0, 0, 0, 0, None, spent)

    # 2 threads in the passes and 1 busy thread on 2 cores: each thread gets 2/3 of a core.
    assert fair_share(9.0, run(1.0, 6.0, 2.0, 0.0), 2, 1, cores=2) == 2 / 3
    # One thread's Python beside one busy thread keeps a whole core.
    assert fair_share(9.0, run(0.0, 0.0, 0.0, 9.0), 2, 1, cores=2) == 1.0
    # 6 s of passes at 1.5x and 3 s outside them: 9 / 12.
    assert fair_share(9.0, run(0.0, 6.0, 0.0, 3.0), 2, 1, cores=2) == 0.75
    assert fair_share(9.0, run(0.0, 6.0, 0.0, 3.0), 2, 1, cores=4) == 1.0  # cores to spare


def test_where_the_time_went_gives_a_decode_steps_time_without_the_prompts():
    from benchmarks.burst import EngineRun, time_went

    spent = {"prompts": 1.0, "forward": 3.0, "logits": 1.0, "decisions": 0.8, "layout": 0.2}
    run = EngineRun(50, 4400, 500, 3200, 576, None, spent)  # 50 steps of 88 rows
    line = time_went(6.0, run, ideal=3.0)
    assert "took 100.0 ms on average, at 88 rows" in line  # (3 + 1 + 0.8 + 0.2) s / 50
    assert "the passes ran at 60% of the ceiling" in line  # 3 s ideal / 5 s of passes


def _thread_ids() -> set[str]:
    return set(os.listdir("/proc/self/task"))


def _gnu_openmp() -> bool:
    from benchmarks.alone import _runtime

    return os.path.isdir("/proc/self/task") and _runtime() is not None


@pytest.mark.skipif(not _gnu_openmp(), reason="needs Linux's /proc and torch on GNU OpenMP")
def test_a_thread_that_measured_something_hands_its_openmp_workers_back():
    from benchmarks.alone import release_openmp_threads

    seen: dict = {}
    was = torch.get_num_threads()  # (1 in the tests: conftest.py)

    def measured() -> None:
        torch.set_num_threads(2)
        try:
            before = _thread_ids()
            torch.ones(4_000_000).mul_(2)  # parallel: this thread gets a team of workers
            seen["team"] = _thread_ids() - before
            seen["released"] = release_openmp_threads()
            deadline = time.monotonic() + 2  # (the kernel lists an ended thread a moment longer)
            while seen["team"] <= _thread_ids() and time.monotonic() < deadline:
                time.sleep(0.01)
            seen["gone"] = seen["team"] - _thread_ids()
        finally:
            torch.set_num_threads(was)

    worker = threading.Thread(target=measured)
    worker.start()
    worker.join()
    assert seen["team"]  # the workers (new threads) stay while this thread lives...
    assert seen["released"] and seen["gone"]  # ...until it hands them back
