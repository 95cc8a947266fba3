r"""NumPy integer reference of the element-wise ops and pooling, and their builders.

Oracles of pr_lut_s8, pr_add_s16 / pr_add_s16_s8, pr_requantize_s16_s8, pr_mul_s8
and pr_avgpool_s8 / pr_avgpool_s16; they must match bit for bit.

Notes
-----
Table lookup: y = table[x + 128], table[q + 128] = clamp(round(f(s_in (q - zp_in)) /
s_out) + zp_out) built offline from the float function.

Residual add (TFLite's int16 ADD): with m = max(s_a, s_b),

    a' = MBQM(a 2^15, s_a / (2 m)),  b' = MBQM((b - zp_b) 2^15, s_b / (2 m))
    y  = clamp(MBQM(sat32(a' + b'), 2 m / (2^15 s_out)), act_min, act_max)

Element-wise product: y = clamp(zp_out + MBQM((a - zp_a)(b - zp_b), s_a s_b / s_out)).

Average pooling: y = zp + round_half_away(sum_t (x_t - zp) / n) over each group of n
frames (the last group may be shorter): the real-valued mean, rounded once.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import numpy as np

from pyreparam.quant.fixedpoint import (INT32_MAX, INT32_MIN, divide_round_half_away,
                                        multiply_by_quantized_multiplier,
                                        quantize_multiplier, requantize, round_half_away,
                                        saturate)

ADD_LEFT_SHIFT = 15        # PR_ADD_LEFT_SHIFT


# ---- lookup tables -------------------------------------------------------------

def build_lut(fn: Callable[[np.ndarray], np.ndarray], s_in: float, zp_in: int,
              s_out: float, zp_out: int) -> np.ndarray:
    """Offline 256-entry int8 table of a float function (entry q + 128 for input q).

    Parameters
    ----------
    fn : callable, float64 array -> float64 array (GELU, Swish, sigmoid, ...)
    s_in, zp_in : input scale and zero point
    s_out, zp_out : output scale and zero point

    Returns
    -------
    table : ndarray (256,) int8
    """
    q = np.arange(-128, 128, dtype=np.float64)
    y = round_half_away(np.asarray(fn(s_in * (q - zp_in)), np.float64) / s_out) + zp_out
    return np.clip(y, -128, 127).astype(np.int8)


def lut_s8(x, table) -> np.ndarray:
    """y = table[x + 128] (pr_lut_s8); x any shape int8, table (256,) int8."""
    return np.asarray(table, np.int8)[np.asarray(x, np.int64) + 128]


# ---- residual add --------------------------------------------------------------

class AddQParams(NamedTuple):
    """Multipliers of the int16 residual add (pr_add_s16 / pr_add_s16_s8)."""
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    out_multiplier: int
    out_shift: int


def add_qparams(s_a: float, s_b: float, s_out: float) -> AddQParams:
    """TFLite's add multipliers: s_a / 2m, s_b / 2m and 2m / (2^15 s_out), m = max."""
    twice_max = 2.0 * max(s_a, s_b)
    a = quantize_multiplier(s_a / twice_max)
    b = quantize_multiplier(s_b / twice_max)
    out = quantize_multiplier(twice_max / (2.0**ADD_LEFT_SHIFT * s_out))
    return AddQParams(*a, *b, *out)


def add_s16(a, b, b_zero_point: int, a_multiplier: int, a_shift: int, b_multiplier: int,
            b_shift: int, out_multiplier: int, out_shift: int, act_min: int = -32768,
            act_max: int = 32767) -> np.ndarray:
    """Residual add into the int16 stream (pr_add_s16, or pr_add_s16_s8 for int8 b).

    Parameters
    ----------
    a : ndarray int16, zero point 0 (the stream)
    b : ndarray of a's shape, int16 (zero point 0) or int8 (zero point b_zero_point);
        a constant table (positional encoding) is the same call
    multipliers and shifts : :class:`AddQParams`

    Returns
    -------
    y : ndarray int16, a's shape
    """
    sa = multiply_by_quantized_multiplier(np.asarray(a, np.int64) * 2**ADD_LEFT_SHIFT,
                                          a_multiplier, a_shift)
    sb = multiply_by_quantized_multiplier(
        (np.asarray(b, np.int64) - b_zero_point) * 2**ADD_LEFT_SHIFT, b_multiplier, b_shift)
    total = saturate(sa.astype(np.int64) + sb, INT32_MIN, INT32_MAX)
    return requantize(total, out_multiplier, out_shift, 0, act_min, act_max, np.int16)


# ---- requantize and multiply ----------------------------------------------------

def requantize_s16_s8(x, in_zero_point: int, multiplier: int, shift: int,
                      out_zero_point: int, act_min: int = -128,
                      act_max: int = 127) -> np.ndarray:
    """int16 -> int8: clamp(zp_out + MBQM(x - zp_in, M)) (pr_requantize_s16_s8)."""
    return requantize(np.asarray(x, np.int64) - in_zero_point, multiplier, shift,
                      out_zero_point, act_min, act_max, np.int8)


def mul_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
           out_zero_point: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """int8 element-wise product with zero points (pr_mul_s8), M = s_a s_b / s_out."""
    prod = (np.asarray(a, np.int64) - a_zero_point) * (np.asarray(b, np.int64)
                                                      - b_zero_point)
    return requantize(prod, multiplier, shift, out_zero_point, act_min, act_max, np.int8)


# ---- pooling -------------------------------------------------------------------

def avgpool(x, group: int, zero_point: int = 0) -> np.ndarray:
    """Average of non-overlapping groups of frames (pr_avgpool_s8 / pr_avgpool_s16).

    Parameters
    ----------
    x : ndarray (T, C) int8 or int16, T valid frames
    group : int >= 1; group >= T gives the mean over all frames
    zero_point : int, of input and output (same scale)

    Returns
    -------
    y : ndarray (ceil(T / group), C), x's dtype
    """
    x = np.asarray(x)
    T, C = x.shape
    T_out = -(-T // group)
    y = np.empty((T_out, C), dtype=x.dtype)
    for u in range(T_out):
        block = x[u * group:(u + 1) * group].astype(np.int64) - zero_point  # (n, C)
        y[u] = divide_round_half_away(block.sum(axis=0), block.shape[0]) + zero_point
    return y


def masked_mean_pool(x, mask, zero_point: int = 0) -> np.ndarray:
    """Mean over the valid frames (mask True), rounded half away from zero.

    x (T, C) int8/int16, mask (T,) bool with at least one True; returns (C,). The C
    runtime gets the T valid frames only: pr_avgpool with group = T.
    """
    valid = np.asarray(x)[np.asarray(mask, dtype=bool)]                  # (T_valid, C)
    return avgpool(valid, valid.shape[0], zero_point)[0]
