"""Keep freed training buffers in the process instead of handing them back to the OS.

Each mini-batch allocates the same large temporaries (im2col patch matrices of several MB,
feature maps, gradients) and frees them again. glibc serves blocks that large with ``mmap`` and
returns them to the kernel on free, so every step pays for thousands of fresh page faults —
about a fifth of a CNN step on the 2-core machine (measured with bench/train_speed.py). Raising
the mmap and trim thresholds keeps those blocks on the heap for reuse. The memory held is
bounded by the largest step's working set (a few tens of MB).

This is process-wide tuning, so it happens when a process starts training (``Trainer``, and the
benchmarks), not when the library is imported. On a C library without ``mallopt`` it does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 * 1024 * 1024
TRIM_THRESHOLD = 1024 * 1024 * 1024


def keep_freed_buffers() -> bool:
    """Apply the thresholds; True when the C library accepted them."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
