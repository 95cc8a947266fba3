r"""NumPy integer reference of the causal speaker normalization (the device's rule).

Oracle of ``csrc/pr_norm_*.c``; they must match bit for bit. The float rule is
:class:`pyreparam.data.normalize.CausalStats` and :meth:`Normalizer.blended`;
reference/causal_norm.md writes both out side by side.

Units
-----
Features x: int16, Q8 (x_q = round(x 2^8), :func:`quantize_features`). Statistics:
mean and variance in Q16 (int32; the variance of x_q / 2^8 times 2^16). Weights:
Q30. ``rdiv`` is division rounded half away from zero, ``rdbp`` the rounding shift of
:mod:`pyreparam.quant.fixedpoint` (both exact in int64 for the ranges below).

State (:class:`NormState`, serialized by :func:`state_to_bytes`): utterances heard n
(saturating at 65535), frames F, mean m[M] and variance v[M].

Update with one utterance of T frames (S1 = sum_t x, S2 = sum_t x^2 per band):

    m_u = rdiv(S1 2^8, T),  v_u = max(0, rdiv(S2, T) - rdbp(m_u^2, 16))
    first utterance:  m, v, F = m_u, v_u, T
    otherwise:        F_a = min(F, 2^24),  F' = F_a + T,  w = rdiv(T 2^30, F')
                      d = m_u - m,  dd = rdbp(d^2, 16)
                      m' = m + rdbp(d w, 30)
                      v' = v + rdbp((v_u - v) w, 30) + rdbp(rdbp(dd w, 30) (2^30 - w), 30)
                      (v' clamped to [0, 2^30]; |m| <= 2^23 always)

Apply to an utterance (prior mean p_m, variance p_v, n0 in Q16):

    b = rdiv(n 2^46, n 2^16 + n0)                             (Q30; 0 when n = 0)
    mean = p_m + rdbp((m - p_m) b, 30),  V = max(p_v + rdbp((v - p_v) b, 30), floor)
    xc = x 2^8 - mean                                         (Q16)
    1/sqrt(V) ~= inv 2^(k - 61)  (as LayerNorm: V 4^k in [2^60, 2^62), inv = round(2^61 / isqrt))
    z = sat32(rdbp(xc inv, 45 - k))                           (Q24 of (x - mean) / std)
    y = sat8(zp + MBQM(z, M_in, e_in))                        (M_in 2^e_in = 1 / (s_in 2^24))
"""
from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

import numpy as np

from pyreparam.quant.fixedpoint import (INT32_MAX, INT32_MIN, divide_round_half_away,
                                        multiply_by_quantized_multiplier,
                                        quantize_multiplier, rdbp, round_half_away,
                                        saturate)
from pyreparam.quant.qnorm import _inv_sqrt_q61

FEATURE_FRAC_BITS = 8          # x_q = round(x 2^8)
STAT_FRAC_BITS = 16            # mean, variance, n0
WEIGHT_BITS = 30
MAX_FRAMES = 1 << 24           # as pyreparam.data.normalize.MAX_FRAMES
MAX_UTTERANCES = 65535         # n saturates here (the blend weight is then ~1)
MAX_BANDS = 2048            # the statistics head: D = 1,344 functionals
MAX_T = 1 << 20                # frames of one utterance
MAX_MEAN = 1 << 23             # |mean| of int16 Q8 data, in Q16
MAX_VAR = 1 << 30              # variance of int16 Q8 data, in Q16
STATE_MAGIC = 0x534E5250       # "PRNS"
STATE_VERSION = 1
STATE_HEADER_BYTES = 24        # magic, version, bands, n, frames, crc32


class NormParams(NamedTuple):
    """Integer constants of the causal rule for one model (pr_norm_params)."""
    prior_mean: np.ndarray     # (M,) int32, Q16
    prior_var: np.ndarray      # (M,) int32, Q16, >= 1
    prior_weight: int          # n0, Q16, >= 1
    var_floor: int             # Q16, >= 1
    multiplier: int            # Q31 multiplier of 1 / (s_in 2^24)
    shift: int
    zero_point: int            # the model's input zero point


class NormState(NamedTuple):
    """Running statistics (the caller-owned state): n, F, mean[M], var[M] (int)."""
    n: int
    frames: int
    mean: np.ndarray           # (M,) int64 holding int32 values, Q16
    var: np.ndarray            # (M,) int64 holding int32 values, Q16


def quantize_features(x: np.ndarray) -> np.ndarray:
    """Float log-mel frames (T, M) -> int16 Q8 (rounded half away, saturated)."""
    q = round_half_away(np.asarray(x, dtype=np.float64) * 2.0**FEATURE_FRAC_BITS)
    return saturate(q, -32768, 32767).astype(np.int16)


def norm_params(prior_mean, prior_var, prior_weight: float, input_scale: float,
                input_zero_point: int, min_std: float = 2.0**-8) -> NormParams:
    """Integer constants from the float prior and the model's input quantization."""
    to_q16 = lambda v: round_half_away(np.asarray(v, dtype=np.float64) * 2.0**STAT_FRAC_BITS)
    mean = saturate(to_q16(prior_mean), INT32_MIN, INT32_MAX).astype(np.int32)
    var = saturate(to_q16(prior_var), 1, INT32_MAX).astype(np.int32)
    n0 = int(min(max(int(to_q16(prior_weight)), 1), INT32_MAX))
    floor = int(min(max(int(to_q16(min_std * min_std)), 1), INT32_MAX))
    mult, shift = quantize_multiplier(1.0 / (input_scale * 2.0**24))
    return NormParams(mean, var, n0, floor, mult, shift, int(input_zero_point))


def new_state(n_bands: int) -> NormState:
    """The state of a device that has heard nothing."""
    zeros = np.zeros(n_bands, dtype=np.int64)
    return NormState(0, 0, zeros, zeros.copy())


def utterance_moments(x) -> tuple[int, np.ndarray, np.ndarray]:
    """(T, m_u, v_u) of an int16 utterance (T, M), Q16 (see the module doc)."""
    x = np.asarray(x, dtype=np.int64)
    return moments_from_sums(x.sum(axis=0), (x * x).sum(axis=0), x.shape[0])


def moments_from_sums(S1, S2, T: int) -> tuple[int, np.ndarray, np.ndarray]:
    """(T, m_u, v_u) from the per-band sums S1 = sum x, S2 = sum x^2 over T frames."""
    S1, S2 = np.asarray(S1, dtype=np.int64), np.asarray(S2, dtype=np.int64)
    m_u = divide_round_half_away(S1 << FEATURE_FRAC_BITS, T)
    v_u = np.maximum(divide_round_half_away(S2, T) - rdbp(m_u * m_u, STAT_FRAC_BITS), 0)
    return T, m_u, v_u


def update(state: NormState, x) -> NormState:
    """The state after hearing utterance x (T, M) int16 (pr_norm_update_s16)."""
    x = np.asarray(x, dtype=np.int64)
    return update_sums(state, x.sum(axis=0), (x * x).sum(axis=0), x.shape[0])


def update_sums(state: NormState, S1, S2, T: int) -> NormState:
    """The same update from an utterance's per-band sums over its T frames,
    S1 = sum_t x, S2 = sum_t x^2 (pr_norm_update_sums: all the update uses of x)."""
    T, m_u, v_u = moments_from_sums(S1, S2, T)
    n = min(state.n + 1, MAX_UTTERANCES)
    if state.frames == 0:
        return NormState(n, T, m_u, v_u)
    frames = min(state.frames, MAX_FRAMES) + T
    w = int(divide_round_half_away(T << WEIGHT_BITS, frames))
    d = m_u - state.mean
    dd = rdbp(d * d, STAT_FRAC_BITS)
    mean = state.mean + rdbp(d * w, WEIGHT_BITS)
    spread = rdbp(rdbp(dd * w, WEIGHT_BITS) * ((1 << WEIGHT_BITS) - w), WEIGHT_BITS)
    var = state.var + rdbp((v_u - state.var) * w, WEIGHT_BITS) + spread
    return NormState(n, frames, mean, np.clip(var, 0, MAX_VAR))


def blended(state: NormState, p: NormParams) -> tuple[np.ndarray, np.ndarray]:
    """Blended (mean, V) in Q16 that normalize the next utterance."""
    n = np.int64(state.n)
    b = divide_round_half_away(n << (STAT_FRAC_BITS + WEIGHT_BITS),
                               (n << STAT_FRAC_BITS) + p.prior_weight)
    pm = p.prior_mean.astype(np.int64)
    pv = p.prior_var.astype(np.int64)
    mean = pm + rdbp((state.mean - pm) * b, WEIGHT_BITS)
    var = pv + rdbp((state.var - pv) * b, WEIGHT_BITS)
    return mean, np.maximum(var, p.var_floor)


def apply(state: NormState, p: NormParams, x) -> np.ndarray:
    """int8 model input (T, M) of utterance x (T, M) int16 (pr_norm_apply_s16_s8)."""
    x = np.asarray(x, dtype=np.int64)
    mean, V = blended(state, p)
    inv = np.zeros_like(V)
    k = np.zeros_like(V)
    for m, v in enumerate(V):
        inv[m], k[m] = _inv_sqrt_q61(int(v))
    xc = (x << FEATURE_FRAC_BITS) - mean[None, :]                   # (T, M) Q16
    z = saturate(rdbp(xc * inv[None, :], (45 - k)[None, :]), INT32_MIN, INT32_MAX)
    u = multiply_by_quantized_multiplier(z, p.multiplier, p.shift)
    return saturate(u.astype(np.int64) + p.zero_point, -128, 127).astype(np.int8)


# ---- serialization (the byte layout the C state uses in place) ---------------------

def state_bytes(n_bands: int) -> int:
    """Size of a serialized state (pr_norm_state_bytes)."""
    return STATE_HEADER_BYTES + 8 * n_bands


def state_to_bytes(state: NormState) -> bytes:
    """Little-endian layout: u32 magic, version, bands, n, frames, crc32, then int32
    mean[M] and var[M]; the CRC-32 covers every byte except its own four."""
    M = state.mean.shape[0]
    body = struct.pack(f"<{M}i{M}i", *state.mean.astype(np.int64).tolist(),
                       *state.var.astype(np.int64).tolist())
    head = struct.pack("<5I", STATE_MAGIC, STATE_VERSION, M, state.n, state.frames)
    crc = zlib.crc32(head + body) & 0xFFFFFFFF
    return head + struct.pack("<I", crc) + body


class StateError(ValueError):
    """Bytes that are not a valid normalization state."""


def state_from_bytes(data: bytes, n_bands: int | None = None) -> NormState:
    """Parse and validate a serialized state (same checks as pr_norm_state_check)."""
    if len(data) < STATE_HEADER_BYTES:
        raise StateError("normalization state truncated")
    magic, version, M, n, frames, crc = struct.unpack_from("<6I", data)
    if magic != STATE_MAGIC:
        raise StateError("not a pyreparam normalization state (bad magic)")
    if version != STATE_VERSION:
        raise StateError(f"normalization state version {version} (this build reads "
                         f"{STATE_VERSION})")
    if not 1 <= M <= MAX_BANDS or len(data) != state_bytes(M):
        raise StateError("normalization state has a bad size")
    if n_bands is not None and M != n_bands:
        raise StateError(f"normalization state has {M} bands, the model {n_bands}")
    if zlib.crc32(data[:20] + data[24:]) & 0xFFFFFFFF != crc:
        raise StateError("normalization state CRC mismatch (corrupt)")
    values = np.array(struct.unpack_from(f"<{2 * M}i", data, STATE_HEADER_BYTES),
                      dtype=np.int64)
    mean, var = values[:M], values[M:]
    if n > MAX_UTTERANCES or frames > MAX_FRAMES + MAX_T or (n == 0) != (frames == 0) \
            or (np.abs(mean) > MAX_MEAN).any() or (var < 0).any() or (var > MAX_VAR).any() \
            or (n == 0 and (mean.any() or var.any())):
        raise StateError("normalization state holds values out of range")
    return NormState(n, frames, mean, var)


__all__ = ["NormParams", "NormState", "StateError", "apply", "blended", "new_state",
           "norm_params", "quantize_features", "state_bytes", "state_from_bytes",
           "state_to_bytes", "update", "update_sums", "moments_from_sums",
           "utterance_moments"]
