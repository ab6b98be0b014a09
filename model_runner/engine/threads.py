"""Intra-op threads that hold up on a shared machine.

torch splits every matrix product over its intra-op threads and waits for the slowest one
(OpenMP's workers spin while they wait for the next product). When another process takes one
of the cores, the thread that shares it stalls every product of the decode step: on 2 cores
with a second busy process, 2 threads took 25 s for the class's burst where 1 thread took
16-17 s, while on a quiet machine 2 threads are about 1.7x faster.
The right count depends on what else the machine runs, so it is measured, not configured:
the tuner times decode steps (seconds per row) at the current count and now and then tries
the other one for two steps, keeping whichever was faster (back to more threads only when
10% faster: two steps are a small sample, and with a busy neighbour the wrong move costs
about twice as much; a burst under competition once spent most of its steps on 2 threads
after one lucky probe, 35% of its quiet throughput where 1 thread kept 60%). The first
probe comes after 8 steps, the next after 64, and each probe that loses doubles the wait up
to 512 steps, so a quiet machine pays about 1% for probing; a step that suddenly runs much
slower than usual (a process just started) probes at once.
"""

from __future__ import annotations

import logging
import statistics
from collections import deque
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

FIRST_PROBE = 8  # steps before the first probe (the machine may be busy from the start)
NEXT_PROBE = 64  # steps from a probe to the next; doubled after each probe that loses
LONGEST_WAIT = 512  # steps between probes at most
PROBE_STEPS = 2  # steps measured per probe
MARGIN = 0.03  # the other count must be this much faster to be taken
MORE_MARGIN = 0.10  # and this much to go back to more threads (a wrong move costs far more)
SLOWDOWN = 1.3  # a recent step this much slower than usual probes at once


class ThreadTuner:
    """Chooses between `most` intra-op threads and half as many from measured step times."""

    def __init__(
        self, most: int, set_threads: Callable[[int], None] = torch.set_num_threads
    ) -> None:
        self.choices = sorted({most, max(1, most // 2)}, reverse=True)
        self.current = most
        self.set_threads = set_threads
        self.interval = FIRST_PROBE  # steps from one probe to the next
        self.wait = FIRST_PROBE  # steps until the next probe
        self.recent: deque[float] = deque(maxlen=8)  # seconds per row at `current`
        self.usual: float | None = None  # a slow-moving average of the same
        self.probing: int | None = None
        self.probe: list[float] = []
        self.switches = 0

    @property
    def active(self) -> bool:
        return len(self.choices) > 1

    def before_step(self) -> None:
        """Called before each decode step: starts a probe when one is due."""
        if not self.active or self.probing is not None:
            return
        self.wait -= 1
        if self.wait > 0:
            return
        self.probing = next(choice for choice in self.choices if choice != self.current)
        self.probe = []
        self.set_threads(self.probing)

    def after_step(self, seconds: float, rows: int) -> None:
        """Called after each decode step with its time and row count."""
        if not self.active or rows <= 0:
            return
        rate = seconds / rows
        if self.probing is None:
            self._observe(rate)
            return
        self.probe.append(rate)
        if len(self.probe) >= PROBE_STEPS:
            self._decide()

    def _observe(self, rate: float) -> None:
        self.recent.append(rate)
        self.usual = rate if self.usual is None else 0.9 * self.usual + 0.1 * rate
        recent = statistics.median(list(self.recent)[-3:])
        if len(self.recent) >= 3 and recent > SLOWDOWN * self.usual and self.wait > 1:
            self.wait = 1  # something changed on the machine: try the other count now

    def _decide(self) -> None:
        assert self.probing is not None
        probe = statistics.median(self.probe)
        # the steps just before the probe (the machine as it is now)
        incumbent = statistics.median(list(self.recent)[-3:]) if self.recent else float("inf")
        margin = MORE_MARGIN if self.probing > self.current else MARGIN
        if probe < incumbent * (1 - margin):
            log.info(
                "decoding with %d intra-op threads instead of %d (%.1f vs %.1f ms per row)",
                self.probing,
                self.current,
                probe * 1e3,
                incumbent * 1e3,
            )
            self.current, self.switches = self.probing, self.switches + 1
            self.recent.clear()
            self.recent.extend(self.probe)
            self.usual = probe
            self.interval = NEXT_PROBE // 2  # soon: is it still the faster one?
        else:
            self.set_threads(self.current)
            self.interval = min(max(2 * self.interval, NEXT_PROBE), LONGEST_WAIT)
        self.wait = self.interval
        self.probing = None
