r"""1-D convolutions over time, channels-last: full (im2col + one matmul) and depthwise.

x (B, T, Cin) is zero-padded by `padding` frames on both ends. The full convolution
takes a strided window view of the padded input, copies it once into the column
matrix (B T', Cin K) and multiplies by the (Cout, Cin K) weight; its backward
scatters the column gradient back with K shifted adds. The depthwise convolution
(one filter per channel) is K shifted multiply-adds.

Like torch, these are cross-correlations: y[t] = sum_k w[:, :, k] xp[t s + k].

Padding and masks: an output frame j of a sequence with valid length L is valid iff
j < conv1d_output_length(L, K, stride, padding). The models zero the padded input
frames before each convolution, so a valid output frame sees only valid frames and
zeros, exactly as if the sequence were alone and unpadded.

The equations, step by step, are in reference/ops_conv_pool.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pyreparam.ops.linear import column_sums

__all__ = [
    "conv1d_forward", "conv1d_backward",
    "conv1d_output_length", "conv1d_output_mask",
    "depthwise_conv1d_forward", "depthwise_conv1d_backward",
]


def _pad_time(x: np.ndarray, padding: int) -> np.ndarray:
    """Zero-pad axis 1 of a (B, T, C) array by `padding` frames on both ends."""
    if padding == 0:
        return x
    B, T, C = x.shape
    xp = np.zeros((B, T + 2 * padding, C), dtype=x.dtype)          # (B, T+2p, C)
    xp[:, padding:padding + T] = x
    return xp


def _tap_frames(k: int, T: int, T_out: int, stride: int, padding: int) -> tuple[int, int, int]:
    """For tap k: the output frames j0 <= j < j1 whose input frame j s + k - padding
    lies inside [0, T), and the first of those input frames."""
    j0 = max(0, -((k - padding) // stride))                 # ceil((padding - k) / s)
    j1 = min(T_out, (T - 1 - k + padding) // stride + 1 if T - 1 - k + padding >= 0 else 0)
    return j0, max(j0, j1), j0 * stride + k - padding


def conv1d_output_length(T, K: int, stride: int, padding: int):
    """Output length of a 1-D convolution: (T + 2 padding - K) // stride + 1, >= 0.

    Parameters
    ----------
    T : int or int ndarray
        Input length(s), for example the valid lengths mask.sum(1).
    K, stride, padding : int

    Returns
    -------
    int or int ndarray (same shape as T); negative results are clipped to 0.
    """
    out = np.maximum((np.asarray(T) + 2 * padding - K) // stride + 1, 0)
    return int(out) if np.ndim(out) == 0 else out


def conv1d_output_mask(mask: np.ndarray | None, K: int, stride: int,
                       padding: int) -> np.ndarray | None:
    """Mask of a convolution's output frames: j is valid iff j < output length of L.

    Parameters
    ----------
    mask : ndarray (B, T) bool or None
        Input mask, True = valid frame (padding is a tail). None passes through.
    K, stride, padding : int

    Returns
    -------
    ndarray (B, T') bool with T' = conv1d_output_length(T, K, stride, padding),
    or None when mask is None.
    """
    if mask is None:
        return None
    T_out = conv1d_output_length(mask.shape[1], K, stride, padding)
    lengths = conv1d_output_length(mask.sum(axis=1), K, stride, padding)   # (B,)
    return np.arange(T_out)[None, :] < lengths[:, None]                    # (B, T')


# ----------------------------------------------------------------------------------
# full convolution
# ----------------------------------------------------------------------------------

class Conv1dCache(NamedTuple):
    cols: np.ndarray         # (B T', K Cin) im2col of the padded input
    w: np.ndarray            # (Cout, Cin, K)
    x_shape: tuple           # (B, T, Cin)
    stride: int
    padding: int
    has_bias: bool


def conv1d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                   stride: int = 1, padding: int = 0
                   ) -> tuple[np.ndarray, Conv1dCache]:
    r"""1-D convolution over time (torch Conv1d semantics, channels-last data).

    Parameters
    ----------
    x : ndarray, (B, T, Cin), float32 or float64
    w : ndarray, (Cout, Cin, K), x's dtype (torch Conv1d weight layout)
    b : ndarray (Cout,) or None
    stride : int >= 1
    padding : int >= 0
        Zero frames added on both ends.

    Returns
    -------
    y : ndarray, (B, T', Cout), T' = (T + 2 padding - K) // stride + 1
    cache : Conv1dCache

    Notes
    -----
    With xp the zero-padded input and cols[b, j, (k, c)] = xp[b, j s + k, c]
    (tap-major columns, so that every tap is a contiguous block of Cin values):

        y[b, j, o] = sum_{k, c} w[o, c, k] xp[b, j s + k, c] + b[o]
                   = (cols @ W2^T)[b, j, o] + b[o]      W2[o, (k, c)] = w[o, c, k]

    Backward:

        dW2          = dy^T cols            (summed over b, j)
        db           = sum_{b, j} dy[b, j]
        dcols        = dy W2
        dxp[b, j s + k, c] += dcols[b, j, (k, c)]       for every j, k
        dx           = dxp[:, padding : padding + T]
    """
    if stride < 1 or padding < 0:
        raise ValueError(f"need stride >= 1 and padding >= 0, got {stride}, {padding}")
    B, T, Cin = x.shape
    Cout, Cin_w, K = w.shape
    if Cin_w != Cin:
        raise ValueError(f"input has {Cin} channels, weight {w.shape} expects {Cin_w}")
    T_out = (T + 2 * padding - K) // stride + 1
    if T_out < 1:
        raise ValueError(f"input of length {T} is too short for K={K}, padding={padding}")
    cols = np.empty((B, T_out, K, Cin), dtype=x.dtype)              # (B, T', K, Cin)
    for k in range(K):             # cols[:, j, k] = x[:, j s + k - padding], 0 outside x
        j0, j1, t0 = _tap_frames(k, T, T_out, stride, padding)
        cols[:, :j0, k] = 0
        cols[:, j1:, k] = 0
        cols[:, j0:j1, k] = x[:, t0:t0 + stride * (j1 - j0):stride]
    cols = cols.reshape(B * T_out, K * Cin)                         # (B T', K Cin)
    y = cols @ _tap_major(w).T                                      # (B T', Cout)
    if b is not None:
        y += b
    y = y.reshape(B, T_out, Cout)                                   # (B, T', Cout)
    return y, Conv1dCache(cols, w, (B, T, Cin), stride, padding, b is not None)


def _tap_major(w: np.ndarray) -> np.ndarray:
    """W2[o, (k, c)] = w[o, c, k]: the (Cout, K Cin) matrix of tap-major columns."""
    Cout, Cin, K = w.shape
    return w.transpose(0, 2, 1).reshape(Cout, K * Cin)


def conv1d_backward(dy: np.ndarray, cache: Conv1dCache, need_dx: bool = True):
    """Backward of :func:`conv1d_forward`.

    Parameters
    ----------
    dy : ndarray, (B, T', Cout)
    cache : Conv1dCache
    need_dx : bool
        False skips the input gradient (returned as None): a model's first layer
        does not need it, and it is the costliest part of the backward.

    Returns
    -------
    dx : ndarray (B, T, Cin), or None when not need_dx
    dw : ndarray (Cout, Cin, K)
    db : ndarray (Cout,) or None (when b was None)
    """
    cols, w, (B, T, Cin), stride, padding, has_bias = cache
    Cout, _, K = w.shape
    T_out = dy.shape[1]
    dy2 = dy.reshape(B * T_out, Cout)                               # (B T', Cout)
    # y = cols @ W2^T + b
    dw = (dy2.T @ cols).reshape(Cout, K, Cin).transpose(0, 2, 1)    # (Cout, Cin, K)
    db = column_sums(dy2) if has_bias else None                      # (Cout,)
    if not need_dx:
        return None, np.ascontiguousarray(dw), db
    dcols = (dy2 @ _tap_major(w)).reshape(B, T_out, K, Cin)         # (B, T', K, Cin)
    # cols[b, j, (k, c)] = xp[b, j s + k, c]
    dx = np.zeros((B, T, Cin), dtype=dy.dtype)                      # (B, T, Cin)
    for k in range(K):             # taps on padding frames have no input to reach
        j0, j1, t0 = _tap_frames(k, T, T_out, stride, padding)
        dx[:, t0:t0 + stride * (j1 - j0):stride] += dcols[:, j0:j1, k]
    return dx, np.ascontiguousarray(dw), db


# ----------------------------------------------------------------------------------
# depthwise convolution
# ----------------------------------------------------------------------------------

class DepthwiseCache(NamedTuple):
    xp: np.ndarray           # (B, T + 2p, C) zero-padded input
    w: np.ndarray            # (C, K)
    padding: int
    has_bias: bool


def depthwise_conv1d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                             padding: int) -> tuple[np.ndarray, DepthwiseCache]:
    r"""Depthwise 1-D convolution over time (one filter per channel), stride 1.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    w : ndarray, (C, K), x's dtype (torch's (C, 1, K) weight without the middle axis)
    b : ndarray (C,) or None
    padding : int >= 0
        Zero frames on both ends; (K - 1) // 2 keeps the length for odd K.

    Returns
    -------
    y : ndarray, (B, T', C), T' = T + 2 padding - K + 1
    cache : DepthwiseCache

    Notes
    -----
    Forward, xp the zero-padded input:

        y[b, t, c] = sum_k w[c, k] xp[b, t + k, c] + b[c]

    Backward:

        dw[c, k]         = sum_{b, t} dy[b, t, c] xp[b, t + k, c]
        db[c]            = sum_{b, t} dy[b, t, c]
        dxp[b, t + k, c] += w[c, k] dy[b, t, c]          for every k
        dx               = dxp[:, padding : padding + T]
    """
    if padding < 0:
        raise ValueError(f"padding must be >= 0, got {padding}")
    B, T, C = x.shape
    C_w, K = w.shape
    if C_w != C:
        raise ValueError(f"input has {C} channels, weight {w.shape} expects {C_w}")
    T_out = T + 2 * padding - K + 1
    if T_out < 1:
        raise ValueError(f"input of length {T} is too short for K={K}, padding={padding}")
    xp = _pad_time(x, padding)                                      # (B, T+2p, C)
    y = np.empty((B, T_out, C), dtype=x.dtype)                      # (B, T', C)
    np.multiply(xp[:, 0:T_out], w[:, 0], out=y)
    for k in range(1, K):
        y += xp[:, k:k + T_out] * w[:, k]
    if b is not None:
        y += b
    return y, DepthwiseCache(xp, w, padding, b is not None)


def depthwise_conv1d_backward(dy: np.ndarray, cache: DepthwiseCache):
    """Backward of :func:`depthwise_conv1d_forward`.

    Parameters
    ----------
    dy : ndarray, (B, T', C)
    cache : DepthwiseCache

    Returns
    -------
    dx : ndarray (B, T, C)
    dw : ndarray (C, K)
    db : ndarray (C,) or None (when b was None)
    """
    xp, w, padding, has_bias = cache
    C, K = w.shape
    B, T_out, _ = dy.shape
    T = xp.shape[1] - 2 * padding
    # y[b, t, c] = sum_k w[c, k] xp[b, t + k, c] + b[c]
    db = column_sums(dy) if has_bias else None                       # (C,)
    dw = np.empty_like(w)                                           # (C, K)
    dxp = np.zeros_like(xp)                                         # (B, T+2p, C)
    for k in range(K):
        dw[:, k] = np.einsum("btc,btc->c", dy, xp[:, k:k + T_out])
        dxp[:, k:k + T_out] += dy * w[:, k]
    dx = dxp[:, padding:padding + T]                                # (B, T, C)
    return dx, dw, db
