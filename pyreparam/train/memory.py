"""Keep freed memory in the process during training instead of returning it to the OS.

A training step allocates and frees the same large temporaries (activations, score
matrices, gradients: 1-3 MB each for a batch of 32 light-model utterances) every
step. glibc serves blocks above its mmap threshold with fresh mmap'd pages and gives
freed heap tops back to the kernel above its trim threshold, so each step page-faults
its temporaries in again: measured on a light ConvTransformer step (batch 32 x 300
frames, one thread) 10,700 minor faults and 28 ms of system time per step, 72 ms in
all; with the thresholds below, no faults and 44 ms (tools/bench_train.py reports the
step times with this setting, as `pyreparam train` runs).

:func:`keep_freed_memory` raises both thresholds once per process (glibc's
``mallopt``; a no-op elsewhere, or when the user already set ``MALLOC_MMAP_THRESHOLD_``
or ``MALLOC_TRIM_THRESHOLD_``, which take precedence). The resident size then stays
at the step's peak instead of oscillating below it; the peak itself is unchanged.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform

__all__ = ["keep_freed_memory"]

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3      # <malloc.h>
MMAP_THRESHOLD = 32 * 2**20      # glibc's largest allowed value on 64-bit (HEAP_MAX / 2)
TRIM_THRESHOLD = 256 * 2**20

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process; True if they are set.

    Idempotent. Returns False (and changes nothing) off glibc, or when the environment
    already sets either threshold.
    """
    global _done
    if _done is not None:
        return _done
    _done = False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return _done
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return _done
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    # mallopt returns 1 on success; the mmap threshold first, since setting either
    # disables glibc's dynamic adjustment of both
    _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                 and mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
    return _done
