"""Worker processes that die with their parent.

``train --jobs N``, ``demo`` and ``sweep`` train in spawned worker processes. If the
parent is killed (even by SIGKILL, which it cannot catch), a worker must not go on
training and writing fold files that a resumed run would race with: every worker
watches its parent's sentinel and exits as soon as the parent is gone.
"""
from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
import threading


def exit_with_parent() -> None:
    """Worker initializer: end this process as soon as the process that spawned it is
    gone (a SIGKILLed parent would otherwise leave workers writing fold states)."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch():
        parent.join()                     # returns when the parent's sentinel closes
        os._exit(1)
    threading.Thread(target=watch, daemon=True, name="exit-with-parent").start()


def process_pool(jobs: int) -> concurrent.futures.ProcessPoolExecutor:
    """``jobs`` spawned workers, each of which exits with this process."""
    return concurrent.futures.ProcessPoolExecutor(
        max_workers=jobs, mp_context=multiprocessing.get_context("spawn"),
        initializer=exit_with_parent)
