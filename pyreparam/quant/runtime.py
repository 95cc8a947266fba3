"""The C model runner from Python: load a .prq, check it, run utterances (cffi).

    model = PRQModel.from_file("model.prq")          # pr_model_check, or PRQError
    logits_q = model.run(x_int8)                     # pr_model_run, int8 (N,)
    probs = model.predict(features)                  # float features -> probabilities

The blob and the arena live in 16-byte aligned NumPy buffers owned by the object;
every failure of the C side becomes a :class:`PRQError` naming the status.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from pyreparam import native
from pyreparam.native import status_text
from pyreparam.ops.activations import softmax_forward
from pyreparam.quant.prq import PRQError


def aligned_buffer(nbytes: int, align: int = 16) -> np.ndarray:
    """A zeroed uint8 buffer of nbytes whose data pointer is a multiple of align."""
    raw = np.zeros(nbytes + align, dtype=np.uint8)
    start = -raw.ctypes.data % align
    return raw[start:start + nbytes]


def aligned_copy(blob: bytes | np.ndarray) -> np.ndarray:
    """The bytes of ``blob`` in a 16-byte aligned uint8 buffer (what the C side reads)."""
    buf = aligned_buffer(len(blob))
    buf[:] = np.frombuffer(bytes(blob), dtype=np.uint8)
    return buf


def _model_info(buf: np.ndarray, what: str = "") -> dict:
    """pr_model_check of an aligned buffer: the info struct as a dict, or PRQError
    (its text prefixed by ``what``)."""
    ffi, lib = native.handle()
    info = ffi.new("pr_model_info *")
    status = lib.pr_model_check(ffi.cast("uint8_t *", buf.ctypes.data), len(buf), info)
    if status != 0:
        raise PRQError(f"{what}invalid model file: {status_text(status)} (status {status})")
    return {f: int(getattr(info, f)) for f, _ in ffi.typeof("pr_model_info").fields}


def check_blob(blob: bytes | np.ndarray) -> dict:
    """pr_model_check on raw bytes; returns the info struct as a dict, or raises."""
    return _model_info(aligned_copy(blob))


def check_with_c(blob: bytes | np.ndarray) -> str:
    """What the C checker says of a new model file: "ok", or "skipped (...)" when the
    extension is not built (PRQError when it rejects the file)."""
    if not native.available():
        return "skipped (C extension not built)"
    check_blob(blob)
    return "ok"


def check_file_with_c(path) -> None:
    """pr_model_check on a file before anything parses it (PRQError naming the file
    if invalid); nothing when the extension is not built or there is no such file."""
    if native.available() and Path(path).is_file():
        try:
            check_blob(Path(path).read_bytes())
        except PRQError as exc:
            raise PRQError(f"{path}: {exc}") from None


class PRQModel:
    """A checked .prq model bound to the C runner.

    Attributes
    ----------
    info : dict, pr_model_info (t_max, input_cols, output_cols, arena_bytes, ...)
    meta : dict, the host metadata (classes, feature config, scales, ...)
    """

    def __init__(self, blob: bytes, name: str = "model"):
        self._ffi, self._lib = native.handle()
        self.name = name
        self._blob = aligned_copy(blob)
        self.info = _model_info(self._blob, f"{name}: ")
        start, size = self.info["meta_offset"], self.info["meta_bytes"]
        try:
            self.meta = json.loads(bytes(self._blob[start:start + size]).decode())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise PRQError(f"{name}: corrupt metadata: {exc}") from None
        self._arena = aligned_buffer(max(self.info["arena_bytes"], 4))
        self._logits = np.zeros(self.info["output_cols"], dtype=np.int8)
        # the object owns these buffers: their C pointers are made once (per run they
        # would cost a few microseconds of a ~0.25 ms inference)
        self._c_args = (self._ptr(self._blob), len(self._blob),
                        self._ffi.cast("int8_t *", self._logits.ctypes.data),
                        self._ptr(self._arena), len(self._arena))

    @classmethod
    def from_file(cls, path) -> "PRQModel":
        path = Path(path)
        if not path.is_file():
            raise PRQError(f"{path}: no such model file")
        return cls(path.read_bytes(), str(path))

    def _ptr(self, a: np.ndarray):
        return self._ffi.cast("uint8_t *", a.ctypes.data)

    @property
    def t_max(self) -> int:
        return self.info["t_max"]

    def run(self, x: np.ndarray) -> np.ndarray:
        """int8 logits (N,) of int8 features x (T, M), 1 <= T <= t_max."""
        x = np.ascontiguousarray(x)
        if x.dtype != np.int8 or x.ndim != 2 or x.shape[1] != self.info["input_cols"]:
            raise ValueError(f"input must be int8 (T, {self.info['input_cols']}), got "
                             f"{x.dtype} {x.shape}")
        if not 1 <= x.shape[0] <= self.t_max:
            raise ValueError(f"T = {x.shape[0]} frames is outside [1, {self.t_max}]")
        blob, blob_len, logits, arena, arena_len = self._c_args
        status = self._lib.pr_model_run(blob, blob_len, self._ffi.from_buffer("int8_t[]", x),
                                        x.shape[0], logits, arena, arena_len)
        if status != 0:
            raise PRQError(f"{self.name}: pr_model_run failed: {status_text(status)} "
                           f"(status {status})")
        return self._logits.copy()

    def quantize_input(self, features: np.ndarray) -> np.ndarray:
        from pyreparam.quant.qmodel import quantize_input
        q = self.meta["input"]
        return quantize_input(features, q["scale"], q["zero_point"])

    def dequantize_logits(self, logits: np.ndarray) -> np.ndarray:
        q = self.meta["output"]
        return q["scale"] * (logits.astype(np.float64) - q["zero_point"])

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Class probabilities (N,) of float features (T, M), T cut to t_max."""
        x = self.quantize_input(np.asarray(features)[:self.t_max])
        return softmax_forward(self.dequantize_logits(self.run(x)))[0]
