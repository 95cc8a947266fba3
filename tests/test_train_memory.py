"""pyreparam.train.memory: freed training temporaries stay in the process (glibc)."""
from __future__ import annotations

import platform
import resource

import numpy as np
import pytest

from pyreparam.train import memory

glibc = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                           reason="mallopt thresholds are glibc's")


def _faults_per_cycle(n_bytes: int, cycles: int = 20) -> float:
    """Minor page faults per cycle of a step-like pattern: allocate and touch four
    temporaries of n_bytes, 2 n_bytes, n_bytes / 2 and n_bytes, then free them all."""
    def cycle():
        live = [np.ones(n, np.uint8) for n in (n_bytes, 2 * n_bytes, n_bytes // 2, n_bytes)]
        del live
    cycle()                                    # warm up: the first cycle may fault
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(cycles):
        cycle()
    return (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / cycles


@glibc
def test_freed_temporaries_are_reused_without_page_faults(monkeypatch):
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setattr(memory, "_done", None)
    assert memory.keep_freed_memory() is True
    assert memory.keep_freed_memory() is True              # idempotent
    # 3 MB: a light model's (B, H, T, T) scores; 3,328 4-KiB pages per cycle if mmap'd anew
    assert _faults_per_cycle(3 * 2**20) < 10


@glibc
def test_the_users_malloc_settings_take_precedence(monkeypatch):
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "131072")
    monkeypatch.setattr(memory, "_done", None)
    assert memory.keep_freed_memory() is False


def test_a_no_op_off_glibc(monkeypatch):
    monkeypatch.setattr(memory, "_done", None)
    monkeypatch.setattr(memory.platform, "libc_ver", lambda: ("", ""))
    assert memory.keep_freed_memory() is False
