"""Checked Python wrappers around the C runtime (``pyreparam._native``).

Importing this module never fails: when the compiled extension is missing (for
example a source checkout that was not installed), the wrappers raise
``NativeUnavailableError`` with instructions, and everything else keeps working.
"""
from __future__ import annotations

import contextlib
import platform
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace

import numpy as np

try:  # the cffi extension built from csrc/ by setup.py
    from pyreparam._native import ffi as _ffi, lib as _lib
except ImportError as _exc:  # pragma: no cover - exercised only without a build
    _ffi = _lib = None
    _IMPORT_ERROR: ImportError | None = _exc
else:
    _IMPORT_ERROR = None


def _cpu_problem(lib, ffi) -> str | None:
    """None when this CPU runs the instructions the extension was compiled with
    (``pr_build_cpu_ok``), else what is wrong and how to fix it. A module built with
    PYREPARAM_SIMD=auto on one machine and copied to an older CPU would otherwise stop
    the process with an illegal instruction at its first SIMD kernel."""
    if lib is None or not hasattr(lib, "pr_build_cpu_ok") or lib.pr_build_cpu_ok() == 1:
        return None
    build = ffi.string(lib.pr_build_info()).decode()
    return (f"pyreparam's C extension was compiled for {build} (PYREPARAM_SIMD at build "
            "time), which this CPU does not support; rebuild it on this machine, e.g. "
            "`PYREPARAM_SIMD=none pip install --force-reinstall --no-deps pyreparam` "
            "(portable) or PYREPARAM_SIMD=auto")


def _stale_sources(module_file: str) -> list[Path]:
    """The C sources newer than the extension, when it sits in a source checkout.

    ``pip install -e .`` builds ``pyreparam/_native*.so`` once, next to the sources;
    pulling or editing csrc/ afterwards does not rebuild it, and the package would
    silently run (and benchmark) the old kernels. A regular install (site-packages,
    no csrc/ beside the package) has nothing to compare and returns []."""
    built = Path(module_file)
    csrc = built.parent.parent / "csrc"
    if not (csrc / "build_ffi.py").is_file():
        return []
    stamp = built.stat().st_mtime
    machine = platform.machine().lower()
    other = {"arm"}                         # Cortex-M variants: never in a host build
    other |= set() if machine in ("x86_64", "amd64", "i686", "i386") else {"x86"}
    other |= set() if machine in ("aarch64", "arm64") else {"aarch64"}
    return sorted(p for p in csrc.rglob("*")
                  if p.suffix in (".c", ".h") and p.stat().st_mtime > stamp
                  and not other & set(p.relative_to(csrc).parts[:-1]))


if _lib is not None:
    from pyreparam import _native

    _STALE = _stale_sources(_native.__file__)
    if _STALE:
        warnings.warn(
            f"pyreparam's C extension ({Path(_native.__file__).name}) is older than "
            f"{len(_STALE)} file(s) of csrc/ (e.g. {_STALE[0].name}); rebuild it with "
            "`pip install -e .` so that the current C sources run",
            RuntimeWarning, stacklevel=2)


_CPU_PROBLEM = _cpu_problem(_lib, _ffi)
if _CPU_PROBLEM is not None:  # pragma: no cover - needs an older CPU than the build's
    _lib = None

def status_text(status: int) -> str:
    """The meaning of a pr_status code (the C runtime's own text, pr_status_str)."""
    if _lib is None:
        return f"status {int(status)}"
    return _ffi.string(_lib.pr_status_str(int(status))).decode()

_CTYPES = {np.dtype(np.float32): "float", np.dtype(np.float64): "double"}


class NativeUnavailableError(ImportError):
    """The compiled C extension is not available."""


class NativeError(RuntimeError):
    """A C runtime call returned an error status."""

    def __init__(self, func: str, status: int):
        self.status = status
        super().__init__(f"{func} failed with status {status}: {status_text(status)}")


def available() -> bool:
    """True when the compiled extension can be used (built, and its instructions run
    on this CPU)."""
    return _lib is not None


def handle():
    """``(ffi, lib)`` of the C extension in use: the cffi FFI object (types, ``new``,
    ``cast``, ``from_buffer``) and the library of ``pr_*`` functions.

    Raises
    ------
    NativeUnavailableError
        The extension is not built (with how to build it), or this CPU cannot run the
        instructions it was compiled with.
    """
    if _lib is None and _CPU_PROBLEM is not None:
        raise NativeUnavailableError(_CPU_PROBLEM)
    if _lib is None:
        raise NativeUnavailableError(
            "pyreparam's C extension (pyreparam._native) is not built; install the "
            "package with `pip install .` (needs a C compiler and cffi). "
            f"Import error: {_IMPORT_ERROR}")
    return _ffi, _lib


def ffi():
    """The cffi FFI object of the extension in use (see :func:`handle`)."""
    return handle()[0]


def lib():
    """The ``pr_*`` functions of the extension in use (see :func:`handle`)."""
    return handle()[1]


def bind(build):
    """Run every wrapper through another build of the runtime from now on.

    ``build`` has ``.ffi`` and ``.lib`` (a module of csrc/build_ffi.py's
    ``build_module``, e.g. another SIMD level, for tests and benchmarks that compare
    builds); returns the binding it replaces, to pass back to ``bind`` later.
    """
    global _ffi, _lib
    previous = SimpleNamespace(ffi=_ffi, lib=_lib)
    _ffi, _lib = build.ffi, build.lib
    return previous


@contextlib.contextmanager
def using(build):
    """``with native.using(build):`` :func:`bind` for the block, then the previous
    build again."""
    previous = bind(build)
    try:
        yield build
    finally:
        bind(previous)


def check_array(name: str, a, dtype, shape) -> np.ndarray:
    """``a`` itself when it is a C-contiguous numpy array of exactly ``dtype`` and
    ``shape``, else TypeError (not an array, another dtype) or ValueError (another
    shape, not contiguous) naming ``name``: what a C kernel may be given."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(a).__name__}")
    if a.dtype != np.dtype(dtype):
        raise TypeError(f"{name} has dtype {a.dtype}, expected {np.dtype(dtype)}")
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} must be C-contiguous (use np.ascontiguousarray)")
    return a


def hrf_fold(w1p: np.ndarray, b1: np.ndarray | None,
             factors: Sequence[tuple[np.ndarray, np.ndarray | None]]
             ) -> tuple[np.ndarray, np.ndarray]:
    """Fold a chain of HRF factors into the following linear layer, in C.

    Parameters
    ----------
    w1p : ndarray, (F, r_k), float32 or float64, C-contiguous
        The linear layer that follows the chain (W1').
    b1 : ndarray (F,) of the same dtype, or None
        Its bias (None: zero).
    factors : sequence of (H_i, c_i), i = 1..k, applied first to last
        H_i of shape (r_i, r_{i-1}) with r_0 = C; c_i of shape (r_i,) or None.

    Returns
    -------
    W1 : ndarray, (F, C)
    b : ndarray, (F,)

    Notes
    -----
    Same result as :func:`pyreparam.reparam.fold_hrf_chain` (the NumPy reference),
    W1 = W1' H_k ... H_1 and b = b1 + sum_i W1' H_k ... H_{i+1} c_i, computed by
    the cache-blocked kernel ``pr_hrf_fold_f32/_f64`` without allocation in C.
    """
    ffi, lib = handle()
    if not isinstance(w1p, np.ndarray) or w1p.dtype not in _CTYPES:
        raise TypeError("w1p must be a float32 or float64 numpy array")
    dtype = w1p.dtype
    ctype = _CTYPES[dtype]
    if w1p.ndim != 2:
        raise ValueError(f"w1p must be 2-D (F, r_k), got shape {w1p.shape}")
    k = len(factors)
    if not 1 <= k <= lib.PR_HRF_MAX_FACTORS:
        raise ValueError(f"need 1..{lib.PR_HRF_MAX_FACTORS} factors, got {k}")
    for i, (H, _) in enumerate(factors, start=1):
        if not isinstance(H, np.ndarray) or H.ndim != 2:
            raise ValueError(f"factor H_{i} must be a 2-D numpy array")
    F = w1p.shape[0]
    dims = [factors[0][0].shape[1]] + [H.shape[0] for H, _ in factors]  # C, r_1 .. r_k
    for i, (H, _) in enumerate(factors, start=1):
        if H.shape[1] != dims[i - 1]:
            raise ValueError(f"factor H_{i} has shape {H.shape}; its input width must "
                             f"be r_{i - 1} = {dims[i - 1]}")
    if w1p.shape[1] != dims[k]:
        raise ValueError(f"w1p has shape {w1p.shape}; its input width must be "
                         f"r_{k} = {dims[k]} (the last factor's output width)")
    check_array("w1p", w1p, dtype, (F, dims[k]))
    if b1 is not None:
        check_array("b1", b1, dtype, (F,))
    Hs, cs = [], []
    for i, (H, c) in enumerate(factors, start=1):
        Hs.append(check_array(f"H_{i}", H, dtype, (dims[i], dims[i - 1])))
        cs.append(None if c is None else check_array(f"c_{i}", c, dtype, (dims[i],)))

    c_dims = ffi.new("int32_t[]", dims)
    need = lib.pr_hrf_fold_scratch_len(F, k, c_dims)
    if need < 0:
        raise NativeError("pr_hrf_fold_scratch_len", int(need))
    scratch = np.empty(max(int(need), 1), dtype=dtype)
    W1 = np.empty((F, dims[0]), dtype=dtype)
    b = np.empty(F, dtype=dtype)

    def ptr(a):
        return ffi.NULL if a is None else ffi.cast(f"{ctype} *", ffi.from_buffer(a))

    H_ptrs = ffi.new(f"const {ctype} *[]", [ptr(H) for H in Hs])
    c_ptrs = ffi.new(f"const {ctype} *[]", [ptr(c) for c in cs])
    fn = lib.pr_hrf_fold_f64 if dtype == np.float64 else lib.pr_hrf_fold_f32
    status = fn(F, k, c_dims, ptr(w1p), ptr(b1), H_ptrs, c_ptrs, ptr(W1), ptr(b),
                ptr(scratch), scratch.size)
    if status != 0:
        raise NativeError(fn.__name__, int(status))
    return W1, b
