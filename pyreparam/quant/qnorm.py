r"""NumPy integer reference of softmax and LayerNorm, and their offline builders.

Oracles of ``csrc/pr_softmax_s8.c`` and ``csrc/pr_layernorm_s16_s8.c``; they must
match bit for bit. reference/int8.md writes the arithmetic out.

Softmax (int8 scores -> int8 probabilities, scale 1/256, zero point -128)
-------------------------------------------------------------------------
Over the allowed keys of a row (valid in the key mask and inside the window),

    mx  = max_j x_j,   d_j = mx - x_j in [0, 255]
    e_j = table[d_j] = round(2^16 exp(-d_j s_in))          (built offline, Q16)
    S   = sum_j e_j                                        (<= 8192 2^16 = 2^29)
    y_j = min(floor((512 e_j + S) / (2 S)) - 128, 127)     (round(256 e_j / S), half up)

and y_j = -128 (probability 0) for every other key and for rows without any allowed
key. Subtracting the maximum makes the input zero point irrelevant.

LayerNorm (int16 stream, zero point 0 -> int8)
----------------------------------------------
Per row of C values, exactly in integers,

    S1 = sum x,  S2 = sum x^2,  V = C S2 - S1^2 + eps_q      (= C^2 (var + eps) / s_x^2)
    xc_i = C x_i - S1                                         (= C (x_i - mean))
    n_i  = xc_i / sqrt(V)                                     (= (x - mean) / sqrt(var + eps))

1/sqrt(V) in fixed point: k >= 0 with V 4^k in [2^60, 2^62), r = isqrt(V 4^k) in
[2^30, 2^31), inv = round(2^61 / r); then n_i 2^24 ~= z_i = RDBP(xc_i inv, 37 - k)
(z = 0 when V = 0). Per channel, u_i = MBQM(z_i, M_i) with M_i = gamma_i / (s_out 2^16)
(a negative multiplier carries a negative gamma), and
y_i = clamp(zp_out + RDBP(u_i + offset_i, 8)) with offset_i = round(256 beta_i / s_out).
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from pyreparam.quant.fixedpoint import (INT32_MAX, INT32_MIN,
                                        multiply_by_quantized_multiplier,
                                        quantize_multiplier, rdbp, round_half_away,
                                        saturate)

EXP_ONE = 65536            # PR_SOFTMAX_EXP_ONE: table entry for d = 0
MAX_COLS = 8192            # PR_SOFTMAX_MAX_COLS
LN_MAX_CHANNELS = 4096     # PR_LAYERNORM_MAX_CHANNELS
LN_Z_FRAC_BITS = 24
LN_OUT_FRAC_BITS = 8
LN_MAX_EPS = 2**60


# ---- softmax -------------------------------------------------------------------

def build_softmax_exp_table(s_in: float, beta: float = 1.0) -> np.ndarray:
    """Offline Q16 table of exp(-d s_in beta), d = 0..255 (int32, entry 0 = 65536).

    ``s_in`` is the scale of the int8 scores; ``beta`` an optional temperature (for
    example 1/sqrt(D) when the scores were not pre-scaled).
    """
    d = np.arange(256, dtype=np.float64)
    return round_half_away(EXP_ONE * np.exp(-d * s_in * beta)).astype(np.int32)


def softmax_allowed(rows: int, cols: int, key_mask=None, window: int = 0) -> np.ndarray:
    """(rows, cols) bool: key j allowed for query t (valid key, |j - t| <= window // 2)."""
    allowed = np.ones((rows, cols), dtype=bool)
    if key_mask is not None:
        allowed &= np.asarray(key_mask, dtype=bool)[None, :]
    if window > 0:
        t = np.arange(rows)[:, None]
        j = np.arange(cols)[None, :]
        allowed &= np.abs(j - t) <= window // 2
    return allowed


def softmax_s8(x, exp_table, key_mask=None, window: int = 0) -> np.ndarray:
    """int8 softmax over the last axis with a key mask and a local window (pr_softmax_s8).

    Parameters
    ----------
    x : ndarray (H, T, L) int8 scores at scale s_in (any zero point)
    exp_table : ndarray (256,) int32, :func:`build_softmax_exp_table` (s_in)
    key_mask : ndarray (L,) bool, True = valid key; None = all valid
    window : int, 0 (global) or odd: query t sees keys t - w//2 .. t + w//2

    Returns
    -------
    y : ndarray (H, T, L) int8, probability p = (y + 128) / 256
    """
    x = np.asarray(x, dtype=np.int64)
    H, T, L = x.shape
    allowed = np.broadcast_to(softmax_allowed(T, L, key_mask, window), x.shape)
    mx = np.where(allowed, x, -129).max(axis=-1, keepdims=True)     # (H, T, 1)
    d = np.where(allowed, mx - x, 0)                                # (H, T, L), 0..255
    e = np.where(allowed, np.asarray(exp_table, np.int64)[d], 0)    # (H, T, L)
    S = e.sum(axis=-1, keepdims=True)                               # (H, T, 1)
    q = (512 * e + S) // np.maximum(2 * S, 1) - 128
    y = np.where(allowed, np.minimum(q, 127), -128)
    return y.astype(np.int8)


# ---- LayerNorm -----------------------------------------------------------------

class LayerNormQParams(NamedTuple):
    """Integer LayerNorm parameters (pr_layernorm_s16_s8)."""
    eps: int                  # round(eps C^2 / s_x^2), 0..2^60
    multiplier: np.ndarray    # (C,) int32, sign of gamma
    shift: np.ndarray         # (C,) int32
    offset: np.ndarray        # (C,) int32, round(256 beta / s_out)


def layernorm_qparams(gamma, beta, eps: float, s_x: float, s_out: float) -> LayerNormQParams:
    """Fold a float LayerNorm (gamma, beta, eps) and the scales into integer parameters.

    Parameters
    ----------
    gamma, beta : ndarray (C,) float
    eps : float, the LayerNorm epsilon (real units of variance)
    s_x : float, scale of the int16 input (zero point 0)
    s_out : float, scale of the int8 output
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    C = gamma.shape[0]
    eps_q = int(min(round_half_away(eps * C * C / (s_x * s_x)), LN_MAX_EPS))
    mult = np.zeros(C, dtype=np.int32)
    shift = np.zeros(C, dtype=np.int32)
    for c, g in enumerate(gamma):
        m, e = quantize_multiplier(abs(g) / (s_out * 2.0**16))
        mult[c], shift[c] = (-m if g < 0 else m), e
    offset = round_half_away(2.0**LN_OUT_FRAC_BITS * np.asarray(beta, np.float64) / s_out)
    offset = np.clip(offset, INT32_MIN, INT32_MAX).astype(np.int32)
    return LayerNormQParams(eps_q, mult, shift, offset)


def _inv_sqrt_q61(V: int) -> tuple[int, int]:
    """For an integer V >= 1: (inv, k) with 1/sqrt(V) ~= inv 2^(k - 61)."""
    k = 0
    while (V << (2 * k)) < 2**60:
        k += 1
    r = math.isqrt(V << (2 * k))                                    # in [2^30, 2^31)
    return (2**61 + r // 2) // r, k


def layernorm_s16_s8(x, eps: int, multiplier, shift, offset, out_zero_point: int,
                     act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """Integer LayerNorm of int16 rows to int8 (pr_layernorm_s16_s8).

    Parameters
    ----------
    x : ndarray (T, C) int16, zero point 0
    eps, multiplier, shift, offset : see :class:`LayerNormQParams`
    out_zero_point, act_min, act_max : int

    Returns
    -------
    y : ndarray (T, C) int8
    """
    x = np.asarray(x, dtype=np.int64)
    T, C = x.shape
    S1 = x.sum(axis=1)                                              # (T,)
    S2 = (x * x).sum(axis=1)                                        # (T,)
    V = C * S2 - S1 * S1 + eps                                      # (T,)
    inv = np.zeros(T, dtype=np.int64)
    k = np.zeros(T, dtype=np.int64)
    for t in range(T):
        if V[t] > 0:
            inv[t], k[t] = _inv_sqrt_q61(int(V[t]))
    xc = C * x - S1[:, None]                                        # (T, C)
    z = np.where(V[:, None] > 0, rdbp(xc * inv[:, None], (37 - k)[:, None]), 0)
    z = saturate(z, INT32_MIN, INT32_MAX)                           # Q24
    u = multiply_by_quantized_multiplier(z, multiplier, shift)      # (T, C) Q8
    v = rdbp(u.astype(np.int64) + np.asarray(offset, np.int64), LN_OUT_FRAC_BITS)
    return saturate(v + out_zero_point, act_min, act_max).astype(np.int8)
