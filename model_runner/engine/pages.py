"""Large CPU buffers backed by huge pages, so that filling them costs few page faults.

Linux gives a process's new memory one 4 KiB page at a time, on first touch, and each of those
faults costs about a microsecond here (a 2-core VM: a fresh 256 MB tensor took 70 ms to fill,
a warm one 8 ms to read). The decode batch's KV buffers are hundreds of megabytes written a
column per step, so a class's burst took about 180,000 faults (0.8-1.7 s of system time on
2 cores). Where transparent huge pages are on "madvise" (the usual default), asking for them
on the buffer turns 512 of those faults into one. Elsewhere (another OS, THP off or
"always", a GPU tensor) `huge_empty` is `torch.empty`. Huge pages are not always cheaper: on
another 2-core VM, where the kernel had to compact memory to find them, first filling a
415 MB buffer took 235-280 ms with them against 45 ms without (and 10-20 ms when huge pages
were free); the engine's batch keeps its buffers for the next burst (batch.py), so a class
pays for first touch once.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import sys
from functools import cache

import torch

log = logging.getLogger(__name__)

HUGE_PAGE = 2 * 1024 * 1024
MADV_HUGEPAGE = 14  # <linux/mman.h>
SMALLEST = 4 * HUGE_PAGE  # smaller buffers are not worth a system call


@cache
def _madvise():
    """libc's madvise, or None where huge pages cannot be asked for."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        with open("/sys/kernel/mm/transparent_hugepage/enabled") as setting:
            if "[madvise]" not in setting.read():
                return None  # "always" needs no asking, "never" cannot be asked
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None
    madvise = libc.madvise
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def advise_huge(tensor: torch.Tensor) -> bool:
    """Ask for huge pages under the whole 2 MiB pages inside `tensor`'s memory (not yet
    touched: pages already faulted in stay small). True when the kernel agreed."""
    madvise = _madvise()
    size = tensor.untyped_storage().nbytes()
    if madvise is None or tensor.device.type != "cpu" or size < SMALLEST:
        return False
    start = tensor.untyped_storage().data_ptr()
    first = -(-start // HUGE_PAGE) * HUGE_PAGE  # round up to a huge page
    last = (start + size) // HUGE_PAGE * HUGE_PAGE
    if last <= first:
        return False
    if madvise(first, last - first, MADV_HUGEPAGE) != 0:
        log.debug("madvise(MADV_HUGEPAGE) refused: errno %d", ctypes.get_errno())
        return False
    return True


def huge_empty(*shape: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """`torch.empty(*shape)`, backed by huge pages where the machine allows it."""
    tensor = torch.empty(*shape, dtype=dtype, device=device)
    advise_huge(tensor)
    return tensor
