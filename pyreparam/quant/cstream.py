"""The C stream API from Python (cffi): pr_stream_init / push_s16 / finish.

    stream = CStream(blob, params, tables, cfg, arena_bytes)   # pr_stream_init
    decisions = stream.push(pcm_int16)                         # any number of samples
    decisions += stream.finish()
    stream.state                                               # the normalization state

The object owns the model blob (16-byte aligned), the tables, the stream memory and the
normalization state, so that the pointers of its pr_stream_config stay valid; decisions
are :class:`pyreparam.quant.qstream.Decision`, as the NumPy reference's
(:class:`pyreparam.quant.qstream.ReferenceStream`), which it equals bit for bit.
"""
from __future__ import annotations

import numpy as np

from pyreparam import native
from pyreparam.native import NativeError, check_array
from pyreparam.quant import qcausal
from pyreparam.quant.ckernels import logmel_params, pitch_params
from pyreparam.quant.qstream import Decision, StreamConfig
from pyreparam.quant.runtime import aligned_buffer, aligned_copy

#: Decisions one pr_stream_push_s16 call may return before the wrapper calls again.
BATCH = 16


class CStream:
    """A stream in C memory for one model.

    Parameters
    ----------
    blob : bytes, the .prq file (pr_model_check must accept it)
    params : qcausal.NormParams of the model
    tables : qfrontend.FrontendTables of its front end
    cfg : qstream.StreamConfig
    arena_bytes : the model's arena (Program.arena_bytes)
    state : bytes, optional: a serialized normalization state (default: empty)
    pitch : qpitch.PitchTables, optional: the pitch channels' constants (their model's
        input and state have n_mels + 2 bands)
    """

    def __init__(self, blob: bytes, params: qcausal.NormParams, tables, cfg: StreamConfig,
                 arena_bytes: int, state: bytes | None = None, pitch=None):
        ffi, lib = self._ffi, self._lib = native.handle()
        M = tables.n_mels + (2 if pitch is not None else 0)
        self.cfg = cfg
        self._blob = aligned_copy(blob)
        self._prior_mean = check_array("prior_mean", np.ascontiguousarray(params.prior_mean,
                                                                   np.int32), np.int32, (M,))
        self._prior_var = check_array("prior_var", np.ascontiguousarray(params.prior_var, np.int32),
                               np.int32, (M,))
        self._frontend, self._keep = logmel_params(tables)
        self._pitch, self._keep_pitch = pitch_params(pitch) if pitch is not None else \
            (ffi.NULL, None)
        self._norm = ffi.new("pr_norm_params *", dict(
            bands=M, prior_weight=int(params.prior_weight), var_floor=int(params.var_floor),
            out_multiplier=int(params.multiplier), out_shift=int(params.shift),
            out_zero_point=int(params.zero_point)))
        self._cfg = ffi.new("pr_stream_config *", dict(
            hop_samples=cfg.hop_samples, window_frames=cfg.window_frames,
            hop_frames=cfg.hop_frames, min_frames=cfg.min_frames, gate_q8=cfg.gate_q8,
            gate_min_active=cfg.gate_min_active, arena_bytes=int(arena_bytes),
            model_bytes=len(blob), model=ffi.cast("uint8_t *", self._blob.ctypes.data),
            frontend=self._frontend, norm=self._norm,
            prior_mean=ffi.cast("int32_t *", self._prior_mean.ctypes.data),
            prior_var=ffi.cast("int32_t *", self._prior_var.ctypes.data), pitch=self._pitch))
        size = int(lib.pr_stream_bytes(self._cfg))
        if size < 0:
            raise NativeError("pr_stream_bytes", size)
        self.memory_bytes = size
        self._mem = aligned_buffer(size, 16)
        self._check("pr_stream_init", lib.pr_stream_init(self._cfg, self._ptr(self._mem), size))
        state = qcausal.state_to_bytes(qcausal.new_state(M)) if state is None else state
        self._state = np.frombuffer(bytes(state), dtype=np.uint8).copy()
        self._out = ffi.new("pr_stream_decision[]", BATCH)
        self._n = ffi.new("int32_t *")
        self._consumed = ffi.new("int32_t *")

    def _ptr(self, a: np.ndarray):
        return self._ffi.cast("uint8_t *", a.ctypes.data)

    @staticmethod
    def _check(name: str, status: int) -> None:
        if status != 0:
            raise NativeError(name, int(status))

    @property
    def state(self) -> bytes:
        """The normalization state bytes (changed by decisions with ``updated``)."""
        return self._state.tobytes()

    def _decisions(self, n: int) -> list[Decision]:
        out = []
        for d in self._out[0:n]:
            out.append(Decision(int(d.start_frame), int(d.end_frame), int(d.flags),
                                int(d.active_frames), int(d.label),
                                tuple(int(v) for v in d.logits[0:d.n_logits])))
        return out

    def push(self, pcm) -> list[Decision]:
        """pr_stream_push_s16 until every sample is used; every decision made."""
        pcm = np.ascontiguousarray(pcm)
        if pcm.dtype != np.int16 or pcm.ndim != 1:
            raise ValueError(f"pcm must be int16 (n,), got {pcm.dtype} {pcm.shape}")
        out: list[Decision] = []
        used = 0
        while True:
            rest = pcm[used:]
            ptr = self._ffi.cast("int16_t *", rest.ctypes.data) if rest.size else self._ffi.NULL
            status = self._lib.pr_stream_push_s16(
                self._cfg, self._ptr(self._mem), self.memory_bytes, self._ptr(self._state),
                self._state.size, ptr, rest.size, self._consumed, self._out, BATCH, self._n)
            out += self._decisions(self._n[0])
            self._check("pr_stream_push_s16", status)
            used += self._consumed[0]
            if used >= pcm.size:
                return out

    def finish(self) -> list[Decision]:
        """pr_stream_finish: the last window, if any; the stream is finished."""
        status = self._lib.pr_stream_finish(self._cfg, self._ptr(self._mem),
                                            self.memory_bytes, self._ptr(self._state),
                                            self._state.size, self._out, self._n)
        self._check("pr_stream_finish", status)
        return self._decisions(self._n[0])
