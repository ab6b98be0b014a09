"""Each measured workload alone with the OpenMP runtime, as it would be in its own process.

torch's CPU build runs its intra-op threads on GNU OpenMP (libgomp). Every thread that runs a
parallel operation gets a team of worker threads of its own, which stays until that thread
exits. While a process holds more OpenMP threads than it has cores, libgomp makes every
team's workers stop spinning almost at once between two parallel regions and sleep in the
kernel instead, so each product of a decode step waits for a woken thread. On the 2-core test
machine one 512 x 512 product on the main thread (a second team) made the engine's later bursts
15-20% slower, with 2.6-4 s of the cores idle per 8 s burst (before it: none); a thread that
ran the same product and exited left no trace.

A class's runner has one such team: it loads the model on a worker thread that ends, and from
then on only the engine's thread computes (model_runner/runner.py). A benchmark that times
the engine, its baselines and the ceiling in one process must do the same, or each of them is
measured against the others' sleeping teams: `release_openmp_threads()`, called on a thread
once its measured work is done, hands its team back (OpenMP 5's `omp_pause_resource_all`; the
next parallel operation builds a new one). Under another OpenMP runtime (LLVM's on macOS,
Intel's), whose waiting this was not measured with, the call does nothing and says so.
"""

from __future__ import annotations

import ctypes
import functools
import os

from model_runner.engine.openmp import gnu_openmp_libraries

OMP_PAUSE_SOFT = 1  # OpenMP 5's soft pause (libgomp frees the calling thread's team for either)


@functools.cache
def _runtime() -> ctypes.CDLL | None:
    """The GNU OpenMP runtime torch runs on, as already loaded in this process, or None (no
    OpenMP, another runtime, one older than version 5, or no /proc to find it in). It is only
    ever looked up among the libraries already loaded (RTLD_NOLOAD): a second copy of libgomp
    would have threads of its own and free none of torch's."""
    for path in gnu_openmp_libraries():
        try:
            runtime = ctypes.CDLL(path, mode=os.RTLD_NOLOAD | os.RTLD_LAZY)
        except OSError:  # not loaded in this process
            continue
        if hasattr(runtime, "omp_pause_resource_all"):
            return runtime
    return None


def release_openmp_threads() -> bool:
    """Free the calling thread's OpenMP worker threads; False where there is nothing this can
    do (torch not on GNU OpenMP 5, or called inside a parallel region), which leaves the
    measurement as it was."""
    runtime = _runtime()
    if runtime is None:
        return False
    return runtime.omp_pause_resource_all(OMP_PAUSE_SOFT) == 0
