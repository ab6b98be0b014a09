"""The thread tuner: it takes the thread count that decodes faster on this machine now, and
probing costs a quiet machine little."""

from __future__ import annotations

import threading

import torch

from model_runner.engine import threads as tuning
from model_runner.engine.engine import DecodeEngine
from model_runner.engine.threads import ThreadTuner
from model_runner.tiny import build_tiny


class Machine:
    """Step times by thread count, as a machine would give them."""

    def __init__(self, per_row: dict[int, float]) -> None:
        self.per_row = per_row
        self.threads = max(per_row)
        self.history: list[int] = []

    def set_threads(self, count: int) -> None:
        self.threads = count

    def run(self, tuner: ThreadTuner, steps: int, rows: int = 40) -> None:
        for _ in range(steps):
            tuner.before_step()
            self.history.append(self.threads)
            tuner.after_step(self.per_row[self.threads] * rows, rows)


def test_a_competing_process_moves_decoding_to_half_the_threads():
    machine = Machine({2: 0.010, 1: 0.006})  # a second process makes 2 threads stall
    tuner = ThreadTuner(2, machine.set_threads)
    machine.run(tuner, 400)
    assert tuner.current == 1 and tuner.switches == 1
    assert machine.history[:20].count(1) >= 10  # it moved early
    assert machine.history[100:].count(1) >= 0.97 * 300  # and stays, probing less and less


def test_on_a_quiet_machine_probing_costs_little_and_backs_off():
    machine = Machine({2: 0.004, 1: 0.007})
    tuner = ThreadTuner(2, machine.set_threads)
    machine.run(tuner, 4000)
    assert tuner.current == 2 and tuner.switches == 0
    probe_steps = machine.history.count(1)
    assert probe_steps / len(machine.history) < 0.02  # under 2% of steps spent probing
    assert tuner.interval == tuning.LONGEST_WAIT


def test_a_sudden_slowdown_probes_at_once():
    machine = Machine({2: 0.004, 1: 0.007})
    tuner = ThreadTuner(2, machine.set_threads)
    machine.run(tuner, 600)  # quiet: probes are far apart by now
    assert tuner.wait > 50
    machine.per_row = {2: 0.012, 1: 0.007}  # another process starts
    machine.run(tuner, 12)
    assert tuner.current == 1


def test_one_core_or_a_fixed_count_is_left_alone():
    assert not ThreadTuner(1).active
    model, _ = build_tiny(seed=0)
    before = torch.get_num_threads()
    try:
        engine = DecodeEngine(model, torch.device("cpu"), threads=1)
        assert not engine.threads.active and torch.get_num_threads() == 1
        torch.set_num_threads(2)
        assert DecodeEngine(model, torch.device("cpu")).threads.active
    finally:
        torch.set_num_threads(before)
    assert threading.active_count() >= 1


def test_going_back_to_more_threads_takes_a_clear_win():
    machine = Machine({2: 0.010, 1: 0.006})
    tuner = ThreadTuner(2, machine.set_threads)
    machine.run(tuner, 40)
    assert tuner.current == 1
    machine.per_row = {2: 0.0056, 1: 0.006}  # 2 threads barely faster (a lucky moment)
    machine.run(tuner, 200)
    assert tuner.current == 1 and tuner.switches == 1
    machine.per_row = {2: 0.004, 1: 0.006}  # the neighbour has gone: clearly faster
    machine.run(tuner, tuning.LONGEST_WAIT + 10)
    assert tuner.current == 2
