"""Which OpenMP runtime torch's CPU threads run on, found among the libraries this process
has mapped (Linux's /proc/self/maps).

torch's CPU build runs its intra-op threads on GNU OpenMP (libgomp; its wheel may ship a copy
whose name carries a hash, libgomp-a34b3233.so.1). Code that shares those threads (the compiled
attention of engine/compiled.py, the benchmarks' `release_openmp_threads`) must use that same
copy: a second runtime in the process would start a second set of threads on the same cores.
"""

from __future__ import annotations

import os
import re

GNU_OPENMP = re.compile(r"libgomp([-.]|$)")


def mapped_libraries() -> list[str]:
    """The shared libraries mapped into this process, each once (empty without /proc)."""
    try:
        with open("/proc/self/maps") as maps:
            fields = [line.split(maxsplit=5) for line in maps]
    except OSError:
        return []
    return list(dict.fromkeys(f[5].strip() for f in fields if len(f) == 6 and f[5][0] == "/"))


def gnu_openmp_libraries() -> list[str]:
    """The paths of every GNU OpenMP runtime mapped into this process."""
    return [path for path in mapped_libraries() if GNU_OPENMP.match(os.path.basename(path))]
