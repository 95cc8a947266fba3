"""cffi out-of-line API build of the C runtime into ``pyreparam._native``.

Used by setup.py (``cffi_modules``); compiles every ``csrc/*.c`` with the host C
compiler. The declarations given to cffi are the block of ``pyreparam.h`` between
the ``cffi-begin`` and ``cffi-end`` markers, so the header stays the single source
of truth for the API.
"""
import os
import re
from pathlib import Path

from cffi import FFI

HERE = Path(__file__).resolve().parent
# setup.py runs with the project root as working directory; cffi wants source
# paths relative to it.
ROOT = HERE.parent


def _cdef_from_header(header: Path) -> str:
    text = header.read_text()
    match = re.search(r"/\* cffi-begin \*/(.*?)/\* cffi-end \*/", text, re.S)
    if match is None:
        raise RuntimeError(f"{header}: cffi-begin/cffi-end markers not found")
    return match.group(1)


def _sources() -> list[str]:
    return sorted(os.path.relpath(p, ROOT) for p in HERE.glob("*.c"))


def _compile_args() -> list[str]:
    args = ["-std=c99", "-O3", "-Wall", "-Wextra", "-fno-strict-aliasing"]
    # Opt-in extras for local builds, e.g. PYREPARAM_CFLAGS="-march=native".
    args += os.environ.get("PYREPARAM_CFLAGS", "").split()
    return args


ffibuilder = FFI()
ffibuilder.cdef(_cdef_from_header(HERE / "pyreparam.h"))
ffibuilder.set_source(
    "pyreparam._native",
    '#include "pyreparam.h"',
    sources=_sources(),
    include_dirs=[os.path.relpath(HERE, ROOT)],
    extra_compile_args=_compile_args(),
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
