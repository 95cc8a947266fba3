"""Set the BLAS / OpenMP thread count of a benchmark from its command line.

Imported first by tools/bench_train.py and tools/bench_attention.py, before NumPy and
torch load (they read these variables once, when they start their thread pools):
``--threads N`` (default 2) becomes OMP_NUM_THREADS, OPENBLAS_NUM_THREADS and
MKL_NUM_THREADS. The scripts still parse --threads themselves (torch.set_num_threads).
"""
from __future__ import annotations

import os
import sys


def requested_threads(argv: list[str]) -> str:
    """--threads N from the command line (default 2)."""
    for i, arg in enumerate(argv):
        if arg == "--threads" and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
    return "2"


for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = requested_threads(sys.argv)
