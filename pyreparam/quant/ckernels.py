"""Checked cffi wrappers of the single C kernels (int8 ops, causal normalization,
log-mel front end), with the NumPy reference's signatures.

Each wrapper validates dtypes, shapes and contiguity in Python, fills the kernel's
parameter struct, calls it and raises :class:`pyreparam.native.NativeError` on a
non-zero status (the C side validates again: it never trusts its caller). Arguments
mean exactly what they mean in :mod:`pyreparam.quant.qlinear`, ``qnorm`` and
``qelementwise``.
"""
from __future__ import annotations

import numpy as np

from pyreparam import native
from pyreparam.native import NativeError, check_array

_CTYPE = {np.dtype(np.int8): "int8_t", np.dtype(np.int16): "int16_t",
          np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t",
          np.dtype(np.uint8): "uint8_t", np.dtype(np.uint16): "uint16_t"}


def _arr_shape(name: str, a, shape):
    """Any array-like of a given shape (masks may be bool or uint8)."""
    a = np.asarray(a)
    if a.shape != tuple(shape):
        raise ValueError(f"{name} has shape {a.shape}, expected {tuple(shape)}")
    return a


def _ptr(a: np.ndarray | None):
    """A typed C pointer to a checked array's data (NULL for None)."""
    ffi = native.ffi()
    if a is None:
        return ffi.NULL
    return ffi.cast(_CTYPE[a.dtype] + " *", ffi.from_buffer(a))


def _call(name: str, *args) -> None:
    status = getattr(native.lib(), name)(*args)
    if status != 0:
        raise NativeError(name, int(status))


def _per_channel(n: int, multiplier, shift) -> tuple[np.ndarray, np.ndarray]:
    return (check_array("multiplier", multiplier, np.int32, (n,)),
            check_array("shift", shift, np.int32, (n,)))


def _scratch(n: int) -> np.ndarray:
    return np.empty(max(n, 1), dtype=np.int32)


# ---- fixed point ----------------------------------------------------------------

def requantize_s32(x, multiplier, shift) -> np.ndarray:
    """Element-wise MBQM of int32 arrays (pr_requantize_s32); all (n,) int32."""
    n = x.shape[0] if isinstance(x, np.ndarray) else 0
    x = check_array("x", x, np.int32, (n,))
    m, e = _per_channel(n, multiplier, shift)
    y = np.empty(n, dtype=np.int32)
    _call("pr_requantize_s32", n, _ptr(x), _ptr(m), _ptr(e), _ptr(y))
    return y


# ---- linear family ----------------------------------------------------------------

def _weighted(x, w, bias, multiplier, shift, layout: tuple[str, ...], out_axis: int = 0):
    """The checked arguments of a layer with int8 weights: x (T, Cin) int8, w int8 with
    the axes ``layout`` (the last one Cin), bias (Cout,) int32 or None, and the
    per-channel multipliers and shifts (Cout = w.shape[out_axis])."""
    if not isinstance(w, np.ndarray) or w.ndim != len(layout) or not isinstance(x, np.ndarray):
        raise ValueError(f"w must be a {len(layout)}-D numpy array ({', '.join(layout)})")
    Cin, Cout = w.shape[-1], w.shape[out_axis]
    w = check_array("w", w, np.int8, w.shape)
    x = check_array("x", x, np.int8, (x.shape[0] if x.ndim == 2 else -1, Cin))
    if bias is not None:
        bias = check_array("bias", bias, np.int32, (Cout,))
    m, e = _per_channel(Cout, multiplier, shift)
    return x, w, bias, m, e


def _linear(name, out_dtype, x, w, bias, multiplier, shift, zp, act_min, act_max):
    x, w, bias, m, e = _weighted(x, w, bias, multiplier, shift, ("Cout", "Cin"))
    Cout, Cin = w.shape
    y = np.empty((x.shape[0], Cout), dtype=out_dtype)
    p = native.ffi().new("pr_linear_params *", dict(
        rows=x.shape[0], in_features=Cin, out_features=Cout, out_zero_point=zp,
        act_min=act_min, act_max=act_max))
    _call(name, p, _ptr(x), _ptr(w), _ptr(bias), _ptr(m), _ptr(e), _ptr(y))
    return y


def linear_s8(x, w, bias, multiplier, shift, out_zero_point: int, act_min: int = -128,
              act_max: int = 127) -> np.ndarray:
    """pr_linear_s8; see :func:`pyreparam.quant.qlinear.linear_s8`."""
    return _linear("pr_linear_s8", np.int8, x, w, bias, multiplier, shift,
                   out_zero_point, act_min, act_max)


def linear_s8_s16(x, w, bias, multiplier, shift, act_min: int = -32768,
                  act_max: int = 32767) -> np.ndarray:
    """pr_linear_s8_s16; see :func:`pyreparam.quant.qlinear.linear_s8_s16`."""
    return _linear("pr_linear_s8_s16", np.int16, x, w, bias, multiplier, shift, 0,
                   act_min, act_max)


def _strided3(name: str, a, writeable: bool = False):
    """A 3-D int8 view with unit last stride and non-negative strides: (ptr, strides)."""
    if not isinstance(a, np.ndarray) or a.dtype != np.int8 or a.ndim != 3:
        raise TypeError(f"{name} must be a 3-D int8 numpy array")
    s0, s1, s2 = a.strides
    if s2 != 1 and a.shape[2] > 1:
        raise ValueError(f"{name}: the last axis must be contiguous")
    if s0 < 0 or s1 < 0:
        raise ValueError(f"{name}: strides must be non-negative, got {a.strides}")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} must be writeable")
    return native.ffi().cast("int8_t *", a.__array_interface__["data"][0]), s0, s1


def _bmm(name, a, b, out, rows_b_is_n, a_zero_point, b_zero_point, multiplier, shift,
         out_zero_point, act_min, act_max):
    H, M, K = a.shape
    N = b.shape[1] if rows_b_is_n else b.shape[2]
    expect_b = (H, N, K) if rows_b_is_n else (H, K, N)
    if b.shape != expect_b:
        raise ValueError(f"b has shape {b.shape}, expected {expect_b}")
    if out is None:
        out = np.empty((H, M, N), dtype=np.int8)
    if out.shape != (H, M, N):
        raise ValueError(f"out has shape {out.shape}, expected {(H, M, N)}")
    pa, a0, a1 = _strided3("a", a)
    pb, b0, b1 = _strided3("b", b)
    po, o0, o1 = _strided3("out", out, writeable=True)
    p = native.ffi().new("pr_bmm_params *", dict(
        batches=H, rows=M, cols=N, depth=K, a_batch_stride=a0, a_row_stride=a1,
        b_batch_stride=b0, b_row_stride=b1, out_batch_stride=o0, out_row_stride=o1,
        a_zero_point=a_zero_point, b_zero_point=b_zero_point, multiplier=multiplier,
        shift=shift, out_zero_point=out_zero_point, act_min=act_min, act_max=act_max))
    if rows_b_is_n:
        _call(name, p, pa, pb, po)
    else:
        scratch = _scratch(N)
        _call(name, p, pa, pb, po, _ptr(scratch), scratch.size)
    return out


def bmm_nt_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
              out_zero_point: int, act_min: int = -128, act_max: int = 127,
              out: np.ndarray | None = None) -> np.ndarray:
    """pr_bmm_nt_s8; see :func:`pyreparam.quant.qlinear.bmm_nt_s8`.

    ``a``, ``b`` and ``out`` may be strided views (for example heads interleaved in
    a (T, C) tensor: ``q.reshape(T, H, D).transpose(1, 0, 2)``) as long as their last
    axis is contiguous; ``out`` (H, M, N) is written in place when given.
    """
    return _bmm("pr_bmm_nt_s8", a, b, out, True, a_zero_point, b_zero_point,
                multiplier, shift, out_zero_point, act_min, act_max)


def bmm_nn_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
              out_zero_point: int, act_min: int = -128, act_max: int = 127,
              out: np.ndarray | None = None) -> np.ndarray:
    """pr_bmm_nn_s8; see :func:`pyreparam.quant.qlinear.bmm_nn_s8` and :func:`bmm_nt_s8`."""
    return _bmm("pr_bmm_nn_s8", a, b, out, False, a_zero_point, b_zero_point,
                multiplier, shift, out_zero_point, act_min, act_max)


def conv1d_s8(x, w, bias, multiplier, shift, stride: int, padding: int,
              in_zero_point: int, out_zero_point: int, act_min: int = -128,
              act_max: int = 127) -> np.ndarray:
    """pr_conv1d_s8; see :func:`pyreparam.quant.qlinear.conv1d_s8`."""
    x, w, bias, m, e = _weighted(x, w, bias, multiplier, shift, ("Cout", "K", "Cin"))
    Cout, K, Cin = w.shape
    T_out = (x.shape[0] + 2 * padding - K) // stride + 1 if stride >= 1 else 0
    y = np.empty((max(T_out, 1), Cout), dtype=np.int8)
    p = native.ffi().new("pr_conv1d_params *", dict(
        in_len=x.shape[0], in_channels=Cin, out_channels=Cout, kernel=K, stride=stride,
        padding=padding, in_zero_point=in_zero_point, out_zero_point=out_zero_point,
        act_min=act_min, act_max=act_max))
    _call("pr_conv1d_s8", p, _ptr(x), _ptr(w), _ptr(bias), _ptr(m), _ptr(e), _ptr(y))
    return y


def depthwise_conv1d_s8(x, w, bias, multiplier, shift, in_zero_point: int,
                        out_zero_point: int, act_min: int = -128,
                        act_max: int = 127) -> np.ndarray:
    """pr_depthwise_conv1d_s8; see :func:`pyreparam.quant.qlinear.depthwise_conv1d_s8`."""
    x, w, bias, m, e = _weighted(x, w, bias, multiplier, shift, ("K", "C"), out_axis=1)
    K, C = w.shape
    y = np.empty_like(x)
    scratch = _scratch(C)
    p = native.ffi().new("pr_dwconv1d_params *", dict(
        in_len=x.shape[0], channels=C, kernel=K, in_zero_point=in_zero_point,
        out_zero_point=out_zero_point, act_min=act_min, act_max=act_max))
    _call("pr_depthwise_conv1d_s8", p, _ptr(x), _ptr(w), _ptr(bias), _ptr(m), _ptr(e),
          _ptr(y), _ptr(scratch), scratch.size)
    return y


# ---- softmax and LayerNorm --------------------------------------------------------

def softmax_s8(x, exp_table, key_mask=None, window: int = 0) -> np.ndarray:
    """pr_softmax_s8; see :func:`pyreparam.quant.qnorm.softmax_s8`."""
    if not isinstance(x, np.ndarray) or x.ndim != 3:
        raise ValueError("x must be a 3-D numpy array (H, T, L)")
    H, T, L = x.shape
    x = check_array("x", x, np.int8, (H, T, L))
    table = check_array("exp_table", exp_table, np.int32, (256,))
    mask = None
    if key_mask is not None:
        mask = np.ascontiguousarray(_arr_shape("key_mask", key_mask, (L,)), np.uint8)
    y = np.empty_like(x)
    p = native.ffi().new("pr_softmax_params *", dict(batches=H, rows=T, cols=L, window=window))
    _call("pr_softmax_s8", p, _ptr(x), _ptr(table), _ptr(mask), _ptr(y))
    return y


def layernorm_s16_s8(x, eps: int, multiplier, shift, offset, out_zero_point: int,
                     act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """pr_layernorm_s16_s8; see :func:`pyreparam.quant.qnorm.layernorm_s16_s8`."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, C)")
    T, C = x.shape
    x = check_array("x", x, np.int16, (T, C))
    m, e = _per_channel(C, multiplier, shift)
    offset = check_array("offset", offset, np.int32, (C,))
    y = np.empty((T, C), dtype=np.int8)
    p = native.ffi().new("pr_layernorm_params *", dict(
        rows=T, channels=C, eps=int(eps), out_zero_point=out_zero_point,
        act_min=act_min, act_max=act_max))
    _call("pr_layernorm_s16_s8", p, _ptr(x), _ptr(m), _ptr(e), _ptr(offset), _ptr(y))
    return y


# ---- element-wise and pooling -------------------------------------------------------

def _flat(name: str, a, dtype) -> np.ndarray:
    if not isinstance(a, np.ndarray):
        raise TypeError(f"{name} must be a numpy array")
    return check_array(name, a, dtype, a.shape).reshape(-1)


def lut_s8(x, table) -> np.ndarray:
    """pr_lut_s8; see :func:`pyreparam.quant.qelementwise.lut_s8`."""
    xf = _flat("x", x, np.int8)
    table = check_array("table", table, np.int8, (256,))
    y = np.empty_like(xf)
    _call("pr_lut_s8", xf.size, _ptr(xf), _ptr(table), _ptr(y))
    return y.reshape(x.shape)


def add_s16(a, b, b_zero_point: int, a_multiplier: int, a_shift: int, b_multiplier: int,
            b_shift: int, out_multiplier: int, out_shift: int, act_min: int = -32768,
            act_max: int = 32767) -> np.ndarray:
    """pr_add_s16 (int16 b) or pr_add_s16_s8 (int8 b); see qelementwise.add_s16."""
    af = _flat("a", a, np.int16)
    if not isinstance(b, np.ndarray) or b.dtype not in (np.int8, np.int16):
        raise TypeError("b must be an int8 or int16 numpy array")
    bf = check_array("b", b, b.dtype, a.shape).reshape(-1)
    y = np.empty_like(af)
    p = native.ffi().new("pr_add_params *", dict(
        size=af.size, a_multiplier=a_multiplier, a_shift=a_shift,
        b_multiplier=b_multiplier, b_shift=b_shift, b_zero_point=b_zero_point,
        out_multiplier=out_multiplier, out_shift=out_shift, act_min=act_min,
        act_max=act_max))
    name = "pr_add_s16" if bf.dtype == np.int16 else "pr_add_s16_s8"
    _call(name, p, _ptr(af), _ptr(bf), _ptr(y))
    return y.reshape(a.shape)


def requantize_s16_s8(x, in_zero_point: int, multiplier: int, shift: int,
                      out_zero_point: int, act_min: int = -128,
                      act_max: int = 127) -> np.ndarray:
    """pr_requantize_s16_s8; see :func:`pyreparam.quant.qelementwise.requantize_s16_s8`."""
    xf = _flat("x", x, np.int16)
    y = np.empty(xf.size, dtype=np.int8)
    p = native.ffi().new("pr_requant_params *", dict(
        size=xf.size, in_zero_point=in_zero_point, multiplier=multiplier, shift=shift,
        out_zero_point=out_zero_point, act_min=act_min, act_max=act_max))
    _call("pr_requantize_s16_s8", p, _ptr(xf), _ptr(y))
    return y.reshape(x.shape)


def mul_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
           out_zero_point: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """pr_mul_s8; see :func:`pyreparam.quant.qelementwise.mul_s8`."""
    af = _flat("a", a, np.int8)
    bf = check_array("b", b, np.int8, a.shape).reshape(-1)
    y = np.empty_like(af)
    p = native.ffi().new("pr_mul_params *", dict(
        size=af.size, a_zero_point=a_zero_point, b_zero_point=b_zero_point,
        multiplier=multiplier, shift=shift, out_zero_point=out_zero_point,
        act_min=act_min, act_max=act_max))
    _call("pr_mul_s8", p, _ptr(af), _ptr(bf), _ptr(y))
    return y.reshape(a.shape)


def avgpool(x, group: int, zero_point: int = 0) -> np.ndarray:
    """pr_avgpool_s8 / pr_avgpool_s16 by dtype; see qelementwise.avgpool."""
    if not isinstance(x, np.ndarray) or x.ndim != 2 or x.dtype not in (np.int8, np.int16):
        raise TypeError("x must be a 2-D int8 or int16 numpy array (T, C)")
    T, C = x.shape
    x = check_array("x", x, x.dtype, (T, C))
    T_out = -(-T // group) if group >= 1 else 1
    y = np.empty((T_out, C), dtype=x.dtype)
    scratch = _scratch(C)
    p = native.ffi().new("pr_avgpool_params *", dict(in_len=T, channels=C, group=group,
                                             zero_point=zero_point))
    name = "pr_avgpool_s8" if x.dtype == np.int8 else "pr_avgpool_s16"
    _call(name, p, _ptr(x), _ptr(y), _ptr(scratch), scratch.size)
    return y


# ---- causal normalization state -----------------------------------------------------

def _state(state: bytes, bands: int) -> np.ndarray:
    """A writable uint8 copy of serialized state bytes."""
    return np.frombuffer(bytes(state), dtype=np.uint8).copy()


def norm_state_init(bands: int) -> bytes:
    """pr_norm_state_init: the state of a device that has heard nothing."""
    size = int(native.lib().pr_norm_state_bytes(int(bands)))
    if size < 0:
        raise NativeError("pr_norm_state_bytes", size)
    state = np.zeros(size, dtype=np.uint8)
    _call("pr_norm_state_init", _ptr(state), size, int(bands))
    return state.tobytes()


def norm_state_check(state: bytes, bands: int) -> None:
    """pr_norm_state_check; NativeError (status -21) for invalid bytes."""
    buf = _state(state, bands)
    _call("pr_norm_state_check", _ptr(buf), buf.size, int(bands))


def norm_update_s16(state: bytes, x) -> bytes:
    """pr_norm_update_s16; see :func:`pyreparam.quant.qcausal.update`."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, M)")
    T, M = x.shape
    x = check_array("x", x, np.int16, (T, M))
    buf = _state(state, M)
    _call("pr_norm_update_s16", _ptr(buf), buf.size, M, _ptr(x), T)
    return buf.tobytes()


def norm_update_sums(state: bytes, S1, S2, frames: int) -> bytes:
    """pr_norm_update_sums; see :func:`pyreparam.quant.qcausal.update_sums`."""
    if not isinstance(S1, np.ndarray) or S1.ndim != 1:
        raise ValueError("S1 must be a 1-D numpy array (M,)")
    M = S1.shape[0]
    S1 = check_array("S1", S1, np.int64, (M,))
    S2 = check_array("S2", S2, np.int64, (M,))
    buf = _state(state, M)
    _call("pr_norm_update_sums", _ptr(buf), buf.size, M,
          _ptr(S1), _ptr(S2), int(frames))
    return buf.tobytes()


def norm_apply_s16_s8(params, state: bytes, x) -> np.ndarray:
    """pr_norm_apply_s16_s8; see :func:`pyreparam.quant.qcausal.apply` (``params`` a
    :class:`pyreparam.quant.qcausal.NormParams`)."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, M)")
    T, M = x.shape
    x = check_array("x", x, np.int16, (T, M))
    mean = check_array("prior_mean", params.prior_mean, np.int32, (M,))
    var = check_array("prior_var", params.prior_var, np.int32, (M,))
    buf = _state(state, M)
    y = np.empty((T, M), dtype=np.int8)
    p = native.ffi().new("pr_norm_params *", dict(
        bands=M, prior_weight=int(params.prior_weight), var_floor=int(params.var_floor),
        out_multiplier=int(params.multiplier), out_shift=int(params.shift),
        out_zero_point=int(params.zero_point)))
    _call("pr_norm_apply_s16_s8", p, _ptr(mean), _ptr(var), _ptr(buf), buf.size, _ptr(x),
          T, _ptr(y))
    return y


# ---- integer log-mel front end ------------------------------------------------------

def logmel_params(tables):
    """A pr_logmel_params pointing into ``tables`` (a qfrontend.FrontendTables) and the
    arrays that must stay alive while it is used."""
    N, M = tables.n_fft // 2, tables.n_mels
    arrays = dict(
        window=check_array("window", tables.window, np.int32, (tables.win_length,)),
        fft_twiddles=check_array("fft_twiddles", tables.fft_twiddles, np.int32, (N // 4, 6)),
        rfft_twiddles=check_array("rfft_twiddles", tables.rfft_twiddles, np.int32, (N // 2 + 1, 2)),
        fft_order=check_array("fft_order", tables.fft_order, np.uint16, (N,)),
        mel_first=check_array("mel_first", tables.mel_first, np.uint16, (M,)),
        mel_count=check_array("mel_count", tables.mel_count, np.uint16, (M,)),
        mel_weights=check_array("mel_weights", tables.mel_weights, np.int32,
                         tables.mel_weights.shape),
        log2_table=check_array("log2_table", tables.log2_table, np.int32, (129,)))
    pointers = {name: _ptr(a) for name, a in arrays.items()}
    p = native.ffi().new("pr_logmel_params *", dict(
        win_length=tables.win_length, n_fft=tables.n_fft, n_mels=M,
        n_weights=tables.mel_weights.shape[0], floor_q62=int(tables.floor_q62), **pointers))
    return p, (arrays, pointers)


def logmel_frames_s16(frames, tables, return_power: bool = False):
    """pr_logmel_frame_s16 on each frame; see
    :func:`pyreparam.quant.qfrontend.logmel_frames_q8`.

    Parameters
    ----------
    frames : ndarray, (T, win_length), int16
    tables : qfrontend.FrontendTables
    return_power : bool
        Also return the power spectrum the C code leaves in its scratch.

    Returns
    -------
    ndarray, (T, M), int16 (and, with ``return_power``, (T, N + 1) uint64)
    """
    if not isinstance(frames, np.ndarray) or frames.ndim != 2:
        raise ValueError("frames must be a 2-D numpy array (T, win_length)")
    T = frames.shape[0]
    frames = check_array("frames", frames, np.int16, (T, tables.win_length))
    p, keep = logmel_params(tables)
    n_scratch = int(native.lib().pr_logmel_scratch_len(tables.n_fft))
    if n_scratch < 0:
        raise NativeError("pr_logmel_scratch_len", n_scratch)
    scratch = _scratch(n_scratch)
    out = np.empty((T, tables.n_mels), dtype=np.int16)
    power = np.empty((T, tables.n_fft // 2 + 1), dtype=np.uint64) if return_power else None
    for t in range(T):
        _call("pr_logmel_frame_s16", p, _ptr(frames[t]), _ptr(out[t]), _ptr(scratch),
              scratch.size)
        if return_power:
            power[t] = scratch[tables.n_fft:].view(np.uint32).view(np.uint64)
    del keep
    return (out, power) if return_power else out


def pitch_params(tables):
    """A pr_pitch_params pointing into ``tables`` (a qpitch.PitchTables) and the arrays
    that must stay alive while it is used."""
    from pyreparam.quant.qfrontend import log2_table
    arrays = dict(taps=check_array("taps", np.asarray(tables.taps, dtype=np.int16), np.int16,
                                   (20 * tables.factor + 1,)),
                  log2_table=check_array("log2_table", log2_table(), np.int32, (129,)))
    pointers = {name: _ptr(a) for name, a in arrays.items()}
    p = native.ffi().new("pr_pitch_params *", dict(
        factor=tables.factor, width=tables.width, lag_min=tables.lag_min,
        lag_max=tables.lag_max, log2_rate_q16=tables.log2_rate_q16, **pointers))
    return p, (arrays, pointers)


def pitch_decimate_s16(s, tables) -> np.ndarray:
    """pr_pitch_decimate_s16 over a whole signal: int16 (n,) -> int32 (ceil(n / d),);
    see :func:`pyreparam.quant.qpitch.decimate`."""
    n = s.shape[0] if isinstance(s, np.ndarray) else 0
    s = check_array("s", s, np.int16, (n,))
    count = -(-n // tables.factor)
    y = np.empty(max(count, 1), dtype=np.int32)
    p, keep = pitch_params(tables)
    _call("pr_pitch_decimate_s16", p, _ptr(s) if n else native.ffi().NULL, n, 0, count,
          _ptr(y))
    del keep
    return y[:count]


def pitch_frames_s32(windows, tables) -> np.ndarray:
    """pr_pitch_frame_s32 on each window: int32 (T, w) -> int16 (T, 2) raw octaves and
    voicing; see :func:`pyreparam.quant.qpitch.frame_pitch`."""
    if not isinstance(windows, np.ndarray) or windows.ndim != 2:
        raise ValueError("windows must be a 2-D numpy array (T, width)")
    T = windows.shape[0]
    windows = check_array("windows", windows, np.int32, (T, tables.width))
    out = np.empty((T, 2), dtype=np.int16)
    p, keep = pitch_params(tables)
    for t in range(T):
        _call("pr_pitch_frame_s32", p, _ptr(windows[t]), _ptr(out[t]))
    del keep
    return out


def pitch_fill_s16(frames, col: int = 0) -> np.ndarray:
    """pr_pitch_fill_s16 on a copy of int16 frames (T, stride); see
    :func:`pyreparam.quant.qpitch.fill_unvoiced`."""
    if not isinstance(frames, np.ndarray) or frames.ndim != 2:
        raise ValueError("frames must be a 2-D numpy array (T, stride)")
    out = np.ascontiguousarray(check_array("frames", frames, np.int16, frames.shape)).copy()
    _call("pr_pitch_fill_s16", _ptr(out) if out.size else native.ffi().NULL, out.shape[0],
          out.shape[1], col)
    return out


def logmel_push_s16(tables, hop_length: int, tail: np.ndarray, tail_fill: int, pcm,
                    max_frames: int) -> tuple[np.ndarray, int, int]:
    """pr_logmel_push_s16: push ``pcm`` (int16) into the tail (int16 (win_length),
    updated in place; ``tail_fill`` samples valid).

    Returns
    -------
    features : ndarray, (frames, M), int16
    consumed : int, samples of pcm used (fewer than all after max_frames frames)
    tail_fill : int, the tail's valid samples afterwards
    """
    pcm = np.ascontiguousarray(pcm)
    pcm = check_array("pcm", pcm, np.int16, (pcm.shape[0] if pcm.ndim == 1 else -1,))
    tail = check_array("tail", tail, np.int16, (tables.win_length,))
    p, keep = logmel_params(tables)
    scratch = _scratch(int(native.lib().pr_logmel_scratch_len(tables.n_fft)))
    out = np.empty((max(max_frames, 1), tables.n_mels), dtype=np.int16)
    ffi = native.ffi()
    fill = ffi.new("int32_t *", int(tail_fill))
    consumed = ffi.new("int32_t *")
    frames = ffi.new("int32_t *")
    _call("pr_logmel_push_s16", p, int(hop_length), _ptr(tail), fill,
          _ptr(pcm) if pcm.size else ffi.NULL, pcm.size, consumed, _ptr(out),
          int(max_frames), frames, _ptr(scratch), scratch.size)
    del keep
    return out[:frames[0]].copy(), int(consumed[0]), int(fill[0])


# ---- statistics head ---------------------------------------------------------------

def functionals_s16(x, n_mels: int, basis) -> np.ndarray:
    """pr_functionals_s16; see :func:`pyreparam.quant.qfunctionals.utterance_functionals_q`.

    Parameters
    ----------
    x : ndarray, (T, C) int16, Q8 log-mel frames (the first ``n_mels`` channels bands)
    basis : ndarray, (L, n_mels) int16, the Q14 DCT basis

    Returns
    -------
    ndarray, (2 (6 C + 12 L),) int32, Q16
    """
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, channels)")
    T, C = x.shape
    x = check_array("x", x, np.int16, (T, C))
    basis = np.asarray(basis)
    if basis.ndim != 2:
        raise ValueError("basis must be 2-D (cepstra, n_mels)")
    basis = check_array("basis", basis, np.int16, (basis.shape[0], n_mels))
    count = int(native.lib().pr_functionals_count(C, basis.shape[0]))
    n_scratch = int(native.lib().pr_functionals_scratch_len(T))
    for name, value in (("pr_functionals_count", count),
                        ("pr_functionals_scratch_len", n_scratch)):
        if value < 0:
            raise NativeError(name, value)
    out = np.empty(count, dtype=np.int32)
    scratch = _scratch(n_scratch)
    _call("pr_functionals_s16", _ptr(x), T, C, n_mels, _ptr(basis), basis.shape[0],
          _ptr(out), _ptr(scratch), scratch.size)
    return out


def prosody_s16(x, n_mels: int) -> np.ndarray:
    """pr_prosody_s16; see :func:`pyreparam.quant.qfunctionals.prosody_functionals_q`:
    x (T, C) int16 Q8 frames with the pitch channels at n_mels, n_mels + 1; (7,) int32
    Q16."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, channels)")
    T, C = x.shape
    x = check_array("x", x, np.int16, (T, C))
    n_scratch = int(native.lib().pr_functionals_scratch_len(T))
    if n_scratch < 0:
        raise NativeError("pr_functionals_scratch_len", n_scratch)
    out = np.empty(int(native.lib().PR_PROSODY_COUNT), dtype=np.int32)
    scratch = _scratch(n_scratch)
    _call("pr_prosody_s16", _ptr(x), T, C, n_mels, _ptr(out), _ptr(scratch), scratch.size)
    return out


# ---- the statistics head ------------------------------------------------------------

def _head(h):
    """(pr_head *, arrays kept alive) of :class:`pyreparam.quant.qhead.HeadConstants`."""
    N, D = h.weight.shape
    arrays = dict(
        dct=check_array("dct", h.dct, np.int16, h.dct.shape),
        exponent=check_array("exponent", h.exponent, np.int8, (D,)),
        weight=check_array("weight", h.weight, np.int8, (N, D)),
        bias=check_array("bias", h.bias, np.int32, (N,)),
        multiplier=check_array("multiplier", h.multiplier, np.int32, (N,)),
        shift=check_array("shift", h.shift, np.int32, (N,)),
        head_exp_table=check_array("head_exp_table", h.head_exp_table, np.int32, (256,)),
        net_exp_table=check_array("net_exp_table", h.net_exp_table, np.int32, (256,)))
    fields = dict(channels=h.channels, bands=h.bands, cepstra=h.dct.shape[0], classes=N,
                  logit_zero_point=h.logit_zero_point, mix=h.mix, pitch=int(h.pitch))
    fields.update({k: _ptr(v) for k, v in arrays.items()})
    return native.ffi().new("pr_head *", fields), arrays


def head_features_s16(h, x) -> np.ndarray:
    """pr_head_features_s16; see :func:`pyreparam.quant.qhead.features`: g (D,) int16
    of int16 Q8 frames x (T, C)."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, channels)")
    x = check_array("x", x, np.int16, x.shape)
    head, keep = _head(h)
    n_scratch = int(native.lib().pr_head_scratch_len(head, x.shape[0]))
    if n_scratch < 0:
        raise NativeError("pr_head_scratch_len", n_scratch)
    g = np.empty(h.exponent.shape[0], dtype=np.int16)
    scratch = _scratch(n_scratch)
    _call("pr_head_features_s16", head, _ptr(x), x.shape[0], _ptr(g), _ptr(scratch),
          scratch.size)
    del keep
    return g


def head_decide_s8(h, z, net_logits) -> np.ndarray:
    """pr_head_decide_s8; see :func:`pyreparam.quant.qhead.decide`: p (N,) int32."""
    N, D = h.weight.shape
    z = check_array("z", z, np.int8, (D,))
    net_logits = check_array("net_logits", net_logits, np.int8, (N,))
    head, keep = _head(h)
    p = np.empty(N, dtype=np.int32)
    _call("pr_head_decide_s8", head, _ptr(z), _ptr(net_logits), _ptr(p))
    del keep
    return p


def norm_apply_inplace_s16_s8(params, state: bytes, x, scratch_len: int | None = None
                              ) -> np.ndarray:
    """pr_norm_apply_inplace_s16_s8 on a copy of x (T, M) int16: the int8 output
    (T, M) read back from the first T M bytes of the buffer (``qcausal.apply``'s
    values). ``scratch_len`` (int32 words) defaults to the 3 M the kernel needs."""
    if not isinstance(x, np.ndarray) or x.ndim != 2:
        raise ValueError("x must be a 2-D numpy array (T, M)")
    T, M = x.shape
    buf = np.array(check_array("x", x, np.int16, (T, M)), copy=True)
    mean = check_array("prior_mean", params.prior_mean, np.int32, (M,))
    var = check_array("prior_var", params.prior_var, np.int32, (M,))
    state_buf = _state(state, M)
    scratch = _scratch(3 * M if scratch_len is None else scratch_len)
    p = native.ffi().new("pr_norm_params *", dict(
        bands=M, prior_weight=int(params.prior_weight), var_floor=int(params.var_floor),
        out_multiplier=int(params.multiplier), out_shift=int(params.shift),
        out_zero_point=int(params.zero_point)))
    _call("pr_norm_apply_inplace_s16_s8", p, _ptr(mean), _ptr(var), _ptr(state_buf),
          state_buf.size, _ptr(buf), T, _ptr(scratch),
          3 * M if scratch_len is None else scratch_len)
    return buf.view(np.int8).ravel()[:T * M].reshape(T, M).copy()
