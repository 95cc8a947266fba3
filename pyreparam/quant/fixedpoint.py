r"""Fixed-point primitives of the int8 path: multipliers, shifts and their rounding.

This is the NumPy integer reference (the oracle) of ``csrc/pr_q_internal.h``; the C
kernels and these functions must agree bit for bit. The arithmetic follows TFLite /
gemmlowp / CMSIS-NN ("double rounding"); reference/int8.md writes it out.

Representation
--------------
A positive real multiplier M (for example s_in s_w / s_out) is stored as a Q31
integer m in [2^30, 2^31) and an exponent e in [-31, 30] with

    M ~= m * 2^(e - 31).

At run time an int32 value x becomes

    MBQM(x, m, e) = RDBP(SRDHM(sat32(x * 2^max(e, 0)), m), max(-e, 0))

SRDHM (saturating rounding doubling high multiply, gemmlowp)
    (a b + nudge) / 2^31 in 64 bits, C division (truncation toward zero), with
    nudge = 2^30 if a b >= 0 else 1 - 2^30. This rounds a b / 2^31 to nearest with
    ties toward +infinity (0.5 -> 1, -0.5 -> 0, -1.5 -> -1): the same value as
    CMSIS-NN's floor((a b + 2^30) / 2^31). The only overflow, a = b = INT32_MIN,
    saturates to INT32_MAX.
RDBP (rounding divide by power of two, gemmlowp)
    x / 2^n rounded to nearest, ties away from zero, for 0 <= n <= 31
    (int32; 0 <= n <= 62 for the int64 variant used by LayerNorm).
Left shift
    TFLite computes x * 2^e in int32 and leaves overflow undefined; here it
    saturates to int32, which equals TFLite wherever TFLite is defined.

All functions take and return NumPy integer arrays (int32 unless stated) and work
internally in int64, which holds every intermediate exactly.
"""
from __future__ import annotations

import math

import numpy as np

INT32_MIN = -(2**31)
INT32_MAX = 2**31 - 1
SHIFT_MIN = -31   # smallest exponent e: right shift by 31
SHIFT_MAX = 30    # largest exponent e: left shift by 30


def quantize_multiplier(M: float) -> tuple[int, int]:
    """Encode a real multiplier M >= 0 as a Q31 integer and an exponent (TFLite).

    Parameters
    ----------
    M : float
        Finite, >= 0.

    Returns
    -------
    multiplier : int
        0 (when M == 0 or M < 2^-32) or in [2^30, 2^31).
    shift : int
        Exponent e in [-31, 30]; M ~= multiplier * 2^(e - 31).

    Notes
    -----
    frexp gives M = q 2^e with q in [0.5, 1); m = round(q 2^31) (half away from
    zero). If the rounding reaches 2^31, m = 2^30 and e += 1. Below 2^-32 nothing
    survives the shifts, so (0, 0) is returned; above 2^30 the exponent saturates
    at 30 with m = 2^31 - 1 (TFLite does the same).
    """
    M = float(M)
    if not math.isfinite(M) or M < 0.0:
        raise ValueError(f"multiplier must be finite and >= 0, got {M}")
    if M == 0.0:
        return 0, 0
    q, e = math.frexp(M)                           # M = q 2^e, q in [0.5, 1)
    m = int(round_half_away(q * 2.0**31))
    if m == 2**31:
        m //= 2
        e += 1
    if e < SHIFT_MIN:
        return 0, 0
    if e > SHIFT_MAX:
        return INT32_MAX, SHIFT_MAX
    return m, e


def quantize_multipliers(Ms) -> tuple[np.ndarray, np.ndarray]:
    """:func:`quantize_multiplier` on each element; returns (multiplier, shift) int32."""
    pairs = [quantize_multiplier(M) for M in np.ravel(np.asarray(Ms, dtype=np.float64))]
    m = np.array([p[0] for p in pairs], dtype=np.int32).reshape(np.shape(Ms))
    e = np.array([p[1] for p in pairs], dtype=np.int32).reshape(np.shape(Ms))
    return m, e


def round_half_away(x):
    """Round floats to the nearest integer, ties away from zero (offline builders)."""
    x = np.asarray(x, dtype=np.float64)
    return np.sign(x) * np.floor(np.abs(x) + 0.5)


def saturate(x, lo: int, hi: int) -> np.ndarray:
    """Clip an integer array to [lo, hi], returned as int64."""
    return np.clip(np.asarray(x, dtype=np.int64), lo, hi)


def srdhm(a, b) -> np.ndarray:
    """Saturating rounding doubling high multiply of int32 values (gemmlowp).

    Returns int32: (a b + nudge) / 2^31 truncated toward zero, nudge = 2^30 for
    a b >= 0 else 1 - 2^30; a = b = INT32_MIN gives INT32_MAX.
    """
    a = np.asarray(a, dtype=np.int64)
    b = np.asarray(b, dtype=np.int64)
    ab = a * b                                      # |ab| <= 2^62: exact
    nudge = np.where(ab >= 0, 2**30, 1 - 2**30)
    x = ab + nudge
    high = np.where(x >= 0, x >> 31, -((-x) >> 31))   # C division: toward zero
    high = np.where((a == INT32_MIN) & (b == INT32_MIN), INT32_MAX, high)
    return high.astype(np.int32)


def rdbp(x, exponent) -> np.ndarray:
    """Rounding divide by 2^exponent, ties away from zero (gemmlowp RoundingDivideByPOT).

    ``x`` int32 or int64, ``exponent`` in [0, 31] (int32 x) or [0, 62] (int64 x).
    Returns the dtype of ``x``.
    """
    x = np.asarray(x)
    dtype = x.dtype
    x = x.astype(np.int64)
    n = np.asarray(exponent, dtype=np.int64)
    mask = (np.int64(1) << n) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (x < 0)
    return ((x >> n) + (remainder > threshold)).astype(dtype)


def saturating_left_shift(x, left) -> np.ndarray:
    """int32 x * 2^left (0 <= left <= 30), saturated to int32."""
    x = np.asarray(x, dtype=np.int64)
    left = np.asarray(left, dtype=np.int64)
    return saturate(x * (np.int64(1) << left), INT32_MIN, INT32_MAX).astype(np.int32)


def multiply_by_quantized_multiplier(x, multiplier, shift) -> np.ndarray:
    """MBQM(x, m, e) = RDBP(SRDHM(sat32(x 2^max(e,0)), m), max(-e,0)); int32 in and out.

    ``multiplier`` and ``shift`` broadcast against ``x`` (per-channel: last axis).
    """
    shift = np.asarray(shift, dtype=np.int64)
    left = np.maximum(shift, 0)
    right = np.maximum(-shift, 0)
    return rdbp(srdhm(saturating_left_shift(x, left), multiplier), right)


def requantize(acc, multiplier, shift, zero_point: int, act_min: int, act_max: int,
               dtype=np.int8) -> np.ndarray:
    """Accumulator to output: clamp(MBQM(acc, m, e) + zero_point, act_min, act_max).

    The add is done in int64, so it cannot wrap; the result has ``dtype``.
    """
    y = multiply_by_quantized_multiplier(acc, multiplier, shift).astype(np.int64)
    return saturate(y + zero_point, act_min, act_max).astype(dtype)


def divide_round_half_away(num, den) -> np.ndarray:
    """Integer num / den (den > 0) rounded to nearest, ties away from zero; int64."""
    num = np.asarray(num, dtype=np.int64)
    den = np.asarray(den, dtype=np.int64)
    q = (np.abs(num) + den // 2) // den            # magnitude, half rounds up
    return np.where(num < 0, -q, q)


def quantize(x, scale: float, zero_point: int = 0, dtype=np.int8) -> np.ndarray:
    """Float to integer: clamp(round_half_away(x / scale) + zero_point) in ``dtype``."""
    info = np.iinfo(dtype)
    q = round_half_away(np.asarray(x, dtype=np.float64) / scale) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(q, scale, zero_point=0) -> np.ndarray:
    """Integer to float64: scale * (q - zero_point) (scale may be per channel)."""
    return np.asarray(scale, dtype=np.float64) * (np.asarray(q, dtype=np.float64)
                                                  - zero_point)
