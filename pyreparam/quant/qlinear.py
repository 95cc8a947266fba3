r"""NumPy integer reference of the int8 linear family: linear, batched matmul, conv1d.

Every function is the oracle of one C kernel (``csrc/pr_<name>.c``) and must match
it bit for bit. Arithmetic in int64 (exact); int32 saturation where C saturates.

Notes
-----
With real = s (q - zp), a linear layer y = W x + b becomes, per output channel c,

    acc[t, c] = bias'[c] + sum_k x[t, k] w[c, k],  bias' = bias - zp_in sum_k w[c, k]
    y[t, c]   = clamp(zp_out + MBQM(acc[t, c], M_c), act_min, act_max)

with M_c = s_in s_w[c] / s_out (see :mod:`pyreparam.quant.fixedpoint`). The dot
product is bounded (depth <= 2^15, |x w| <= 2^14) so it never overflows int32; the
bias add saturates to int32 (it cannot wrap).
"""
from __future__ import annotations

import numpy as np

from pyreparam.quant.fixedpoint import INT32_MAX, INT32_MIN, requantize, saturate

MAX_DEPTH = 32768          # PR_Q_MAX_DEPTH: longest dot product


def fold_zero_point_into_bias(bias, w, in_zero_point: int) -> np.ndarray:
    """bias' = bias - zp_in sum_k w[c, k] (int32, saturated) for any (Cout, ...) weights.

    Parameters
    ----------
    bias : ndarray (Cout,) int32, or None (zero)
    w : ndarray (Cout, ...) int8
    in_zero_point : int

    Returns
    -------
    ndarray (Cout,) int32
    """
    w = np.asarray(w, dtype=np.int64)
    b = np.zeros(w.shape[0], np.int64) if bias is None else np.asarray(bias, np.int64)
    wsum = w.reshape(w.shape[0], -1).sum(axis=1)                   # (Cout,)
    return saturate(b - in_zero_point * wsum, INT32_MIN, INT32_MAX).astype(np.int32)


def _add_bias(acc: np.ndarray, bias) -> np.ndarray:
    if bias is None:
        return acc
    return saturate(acc + np.asarray(bias, dtype=np.int64), INT32_MIN, INT32_MAX)


def linear_s8(x, w, bias, multiplier, shift, out_zero_point: int,
              act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """int8 fully connected layer with per-channel requantization (pr_linear_s8).

    Parameters
    ----------
    x : ndarray (T, Cin) int8
    w : ndarray (Cout, Cin) int8
    bias : ndarray (Cout,) int32 with zp_in folded in, or None
    multiplier, shift : ndarray (Cout,) int32
    out_zero_point, act_min, act_max : int

    Returns
    -------
    y : ndarray (T, Cout) int8

    Notes
    -----
    y = clamp(zp_out + MBQM(sat32(bias + x w^T), M), act_min, act_max).
    """
    acc = np.asarray(x, np.int64) @ np.asarray(w, np.int64).T     # (T, Cout)
    return requantize(_add_bias(acc, bias), multiplier, shift, out_zero_point,
                      act_min, act_max, np.int8)


def linear_s8_s16(x, w, bias, multiplier, shift, act_min: int = -32768,
                  act_max: int = 32767) -> np.ndarray:
    """int8 fully connected layer writing int16 with zero point 0 (pr_linear_s8_s16).

    Same as :func:`linear_s8`; returns (T, Cout) int16.
    """
    acc = np.asarray(x, np.int64) @ np.asarray(w, np.int64).T     # (T, Cout)
    return requantize(_add_bias(acc, bias), multiplier, shift, 0, act_min, act_max,
                      np.int16)


def bmm_nt_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
              out_zero_point: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """Batched A B^T with zero points, per-tensor requantization (pr_bmm_nt_s8).

    Parameters
    ----------
    a : ndarray (H, M, K) int8, e.g. queries of each head
    b : ndarray (H, N, K) int8, e.g. keys of each head
    a_zero_point, b_zero_point : int in [-128, 127]
    multiplier, shift : int, M = s_a s_b / s_out
    out_zero_point, act_min, act_max : int

    Returns
    -------
    out : ndarray (H, M, N) int8

    Notes
    -----
    out[h, i, j] = clamp(zp_out + MBQM(sum_k (a[h,i,k] - za)(b[h,j,k] - zb), M)).
    """
    A = np.asarray(a, np.int64) - a_zero_point                      # (H, M, K)
    B = np.asarray(b, np.int64) - b_zero_point                      # (H, N, K)
    acc = A @ B.transpose(0, 2, 1)                                  # (H, M, N)
    return requantize(acc, multiplier, shift, out_zero_point, act_min, act_max, np.int8)


def bmm_nn_s8(a, b, a_zero_point: int, b_zero_point: int, multiplier: int, shift: int,
              out_zero_point: int, act_min: int = -128, act_max: int = 127) -> np.ndarray:
    """Batched A B with zero points, per-tensor requantization (pr_bmm_nn_s8).

    Parameters
    ----------
    a : ndarray (H, M, K) int8, e.g. softmax probabilities (zero point -128)
    b : ndarray (H, K, N) int8, e.g. values of each head

    Returns
    -------
    out : ndarray (H, M, N) int8

    Notes
    -----
    out[h, i, j] = clamp(zp_out + MBQM(sum_k (a[h,i,k] - za)(b[h,k,j] - zb), M)).
    """
    A = np.asarray(a, np.int64) - a_zero_point                      # (H, M, K)
    B = np.asarray(b, np.int64) - b_zero_point                      # (H, K, N)
    acc = A @ B                                                     # (H, M, N)
    return requantize(acc, multiplier, shift, out_zero_point, act_min, act_max, np.int8)


def conv1d_out_len(in_len: int, kernel: int, stride: int, padding: int) -> int:
    """T_out = (T + 2 padding - K) // stride + 1."""
    return (in_len + 2 * padding - kernel) // stride + 1


def conv1d_s8(x, w, bias, multiplier, shift, stride: int, padding: int,
              in_zero_point: int, out_zero_point: int, act_min: int = -128,
              act_max: int = 127) -> np.ndarray:
    """1-D convolution over time, channels last, per-channel requantization.

    Parameters
    ----------
    x : ndarray (T, Cin) int8
    w : ndarray (Cout, K, Cin) int8 (PyTorch's (Cout, Cin, K) transposed)
    bias : ndarray (Cout,) int32 with zp_in folded in (:func:`fold_zero_point_into_bias`)
    multiplier, shift : ndarray (Cout,) int32
    stride : int >= 1
    padding : int in [0, K): frames of value ``in_zero_point`` added on each side

    Returns
    -------
    y : ndarray (T_out, Cout) int8, T_out = :func:`conv1d_out_len`

    Notes
    -----
    y[t, c] = requant(bias[c] + sum_{k,i} xp[t stride + k, i] w[c, k, i]); padding
    with zp_in contributes zp_in sum_i w[c, k, i], which the folded bias cancels:
    in real terms the padded frames are exact zeros.
    """
    Cout, K, Cin = w.shape
    T = x.shape[0]
    xp = np.full((T + 2 * padding, Cin), in_zero_point, dtype=np.int64)
    xp[padding:padding + T] = x                                     # (T + 2p, Cin)
    T_out = conv1d_out_len(T, K, stride, padding)
    starts = np.arange(T_out) * stride                              # (T_out,)
    windows = xp[starts[:, None] + np.arange(K)[None, :]]           # (T_out, K, Cin)
    acc = windows.reshape(T_out, K * Cin) @ np.asarray(w, np.int64).reshape(Cout, -1).T
    return requantize(_add_bias(acc, bias), multiplier, shift, out_zero_point,
                      act_min, act_max, np.int8)                    # (T_out, Cout)


def depthwise_conv1d_s8(x, w, bias, multiplier, shift, in_zero_point: int,
                        out_zero_point: int, act_min: int = -128,
                        act_max: int = 127) -> np.ndarray:
    """Depthwise 1-D convolution, stride 1, 'same' padding with the input zero point.

    Parameters
    ----------
    x : ndarray (T, C) int8
    w : ndarray (K, C) int8, K odd (BatchNorm folded offline)
    bias : ndarray (C,) int32 with zp_in folded: bias - zp_in sum_k w[k, c]
    multiplier, shift : ndarray (C,) int32

    Returns
    -------
    y : ndarray (T, C) int8

    Notes
    -----
    y[t, c] = requant(bias[c] + sum_k xp[t + k, c] w[k, c]), xp padded with K // 2
    frames of zp_in on both sides.
    """
    K, C = w.shape
    T = x.shape[0]
    pad = K // 2
    xp = np.full((T + 2 * pad, C), in_zero_point, dtype=np.int64)
    xp[pad:pad + T] = x                                             # (T + K - 1, C)
    acc = np.zeros((T, C), dtype=np.int64)
    for k in range(K):
        acc += xp[k:k + T] * np.asarray(w[k], np.int64)             # (T, C)
    return requantize(_add_bias(acc, bias), multiplier, shift, out_zero_point,
                      act_min, act_max, np.int8)
