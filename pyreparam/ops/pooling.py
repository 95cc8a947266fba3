r"""Masked pooling over time: SpeechFormer's group-average merge and the masked mean.

Only valid frames (mask True) contribute; padded frames get exactly zero gradient,
and their contents never reach the output (they are selected away with np.where,
so even non-finite padding cannot leak in). Equations: reference/ops_conv_pool.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

__all__ = ["avgpool_merge_forward", "avgpool_merge_backward",
           "masked_mean_forward", "masked_mean_backward",
           "masked_stats_forward", "masked_stats_backward"]

#: Variance floor of statistics pooling's standard deviation.
STATS_EPS = 1e-5


def _valid_or_all(mask: np.ndarray | None, B: int, T: int) -> np.ndarray:
    return np.ones((B, T), dtype=bool) if mask is None else mask.astype(bool, copy=False)


# ----------------------------------------------------------------------------------
# SpeechFormer merge: average of non-overlapping groups of g frames
# ----------------------------------------------------------------------------------

class AvgPoolMergeCache(NamedTuple):
    weight: np.ndarray       # (B, T' g) 1 / n_j at valid frames of group j, else 0
    T: int
    g: int


def avgpool_merge_forward(x: np.ndarray, mask: np.ndarray | None, g: int):
    r"""Average non-overlapping groups of g frames over their valid frames.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    mask : ndarray (B, T) bool or None (None: every frame valid)
    g : int >= 1
        Group size; the last group may be partial.

    Returns
    -------
    (y, y_mask)
        y : ndarray (B, T', C), x's dtype, T' = ceil(T / g)
        y_mask : ndarray (B, T') bool, True where the group has a valid frame
    cache : AvgPoolMergeCache

    Notes
    -----
    With G_j = {j g, ..., min(j g + g, T) - 1}, m the mask and n_j = sum_{t in G_j} m_t:

        y[b, j] = (1 / n_j) sum_{t in G_j} m[b, t] x[b, t]     (0 when n_j = 0)
        y_mask[b, j] = n_j > 0

    Backward: dx[b, t] = m[b, t] dy[b, j(t)] / n_j(t), j(t) = t // g (0 at padding).
    """
    if g < 1:
        raise ValueError(f"group size must be >= 1, got {g}")
    B, T, C = x.shape
    T_out = -(-T // g)                                              # ceil(T / g)
    valid = np.zeros((B, T_out * g), dtype=bool)                    # (B, T' g)
    valid[:, :T] = _valid_or_all(mask, B, T)
    xz = np.zeros((B, T_out * g, C), dtype=x.dtype)                 # (B, T' g, C)
    np.copyto(xz[:, :T], x, where=valid[:, :T, None])               # padded frames -> 0
    counts = valid.reshape(B, T_out, g).sum(axis=2)                 # (B, T')
    y_mask = counts > 0                                             # (B, T')
    inv = (1 / np.maximum(counts, 1)).astype(x.dtype)               # (B, T')
    y = xz.reshape(B, T_out, g, C).sum(axis=2) * inv[..., None]     # (B, T', C)
    weight = np.where(valid, np.repeat(inv, g, axis=1), 0).astype(x.dtype)  # (B, T' g)
    return (y, y_mask), AvgPoolMergeCache(weight, T, g)


def avgpool_merge_backward(dy: np.ndarray, cache: AvgPoolMergeCache) -> np.ndarray:
    """Backward of :func:`avgpool_merge_forward` (with respect to x).

    Parameters
    ----------
    dy : ndarray, (B, T', C)
        Gradient of y (y_mask has no gradient).
    cache : AvgPoolMergeCache

    Returns
    -------
    dx : ndarray, (B, T, C); exactly 0 at padded frames
    """
    weight, T, g = cache
    # y[b, j] = sum_{t in G_j} weight[b, t] x[b, t]
    dx = np.repeat(dy, g, axis=1)[:, :T]                            # (B, T, C)
    dx *= weight[:, :T, None]
    return dx


# ----------------------------------------------------------------------------------
# masked mean over time
# ----------------------------------------------------------------------------------

class MaskedMeanCache(NamedTuple):
    weight: np.ndarray       # (B, T) 1 / n_b at valid frames, else 0


def masked_mean_forward(x: np.ndarray, mask: np.ndarray | None):
    r"""Mean of x over the valid frames of each sequence.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    mask : ndarray (B, T) bool or None (None: every frame valid)

    Returns
    -------
    y : ndarray, (B, C), x's dtype (0 for a sequence with no valid frame)
    cache : MaskedMeanCache

    Notes
    -----
    With n_b = sum_t m[b, t]:

        y[b] = (1 / n_b) sum_t m[b, t] x[b, t]
        dx[b, t] = m[b, t] dy[b] / n_b              (0 at padded frames)
    """
    B, T, C = x.shape
    valid = _valid_or_all(mask, B, T)                               # (B, T)
    counts = valid.sum(axis=1)                                      # (B,)
    inv = (1 / np.maximum(counts, 1)).astype(x.dtype)               # (B,)
    weight = np.where(valid, inv[:, None], 0).astype(x.dtype)       # (B, T)
    xz = x if mask is None else np.where(valid[..., None], x, 0)    # (B, T, C)
    y = np.einsum("bt,btc->bc", weight, xz)                         # (B, C)
    return y, MaskedMeanCache(weight)


def masked_mean_backward(dy: np.ndarray, cache: MaskedMeanCache) -> np.ndarray:
    """Backward of :func:`masked_mean_forward`.

    Parameters
    ----------
    dy : ndarray, (B, C)
    cache : MaskedMeanCache

    Returns
    -------
    dx : ndarray, (B, T, C); exactly 0 at padded frames
    """
    # y[b] = sum_t weight[b, t] x[b, t]
    return cache.weight[:, :, None] * dy[:, None, :]                # (B, T, C)


# ----------------------------------------------------------------------------------
# statistics pooling: mean and standard deviation over the valid frames
# ----------------------------------------------------------------------------------

class MaskedStatsCache(NamedTuple):
    weight: np.ndarray       # (B, T) 1 / n_b at valid frames, else 0
    centered: np.ndarray     # (B, T, C) x - mean at valid frames, else 0
    std: np.ndarray          # (B, C)


def masked_stats_forward(x: np.ndarray, mask: np.ndarray | None, eps: float = STATS_EPS):
    r"""Statistics pooling: per-channel mean and standard deviation over valid frames.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    mask : ndarray (B, T) bool or None (None: every frame valid)
    eps : float
        Added to the variance under the square root.

    Returns
    -------
    y : ndarray, (B, 2 C), x's dtype: [mean, std] (mean 0, std sqrt(eps) for a
        sequence with no valid frame)
    cache : MaskedStatsCache

    Notes
    -----
    With n_b = sum_t m[b, t], mu = (1 / n_b) sum_t m x, d = m (x - mu):

        y[b] = [mu[b], s[b]],   s = sqrt((1 / n_b) sum_t d^2 + eps)
        dx[b, t] = m[b, t] (dmu[b] + d[b, t] ds[b] / s[b]) / n_b

    (the dependence of s on mu drops out because sum_t d[b, t] = 0).
    """
    mean, mc = masked_mean_forward(x, mask)                         # (B, C)
    B, T, C = x.shape
    valid = _valid_or_all(mask, B, T)                               # (B, T)
    centered = np.where(valid[..., None], x - mean[:, None, :], 0).astype(x.dtype)
    var = np.einsum("bt,btc->bc", mc.weight, centered * centered)   # (B, C)
    std = np.sqrt(var + np.asarray(eps, dtype=x.dtype))             # (B, C)
    y = np.concatenate([mean, std], axis=1)                         # (B, 2C)
    return y, MaskedStatsCache(mc.weight, centered, std)


def masked_stats_backward(dy: np.ndarray, cache: MaskedStatsCache) -> np.ndarray:
    """Backward of :func:`masked_stats_forward`.

    Parameters
    ----------
    dy : ndarray, (B, 2 C)
    cache : MaskedStatsCache

    Returns
    -------
    dx : ndarray, (B, T, C); exactly 0 at padded frames
    """
    C = cache.std.shape[1]
    dmean, dstd = dy[:, :C], dy[:, C:]                               # (B, C) each
    # s = sqrt(sum_t w d^2 + eps): ds/dx_t = w_t d_t / s; y_mean = sum_t w_t x_t
    return cache.weight[:, :, None] * (dmean[:, None, :]
                                       + cache.centered * (dstd / cache.std)[:, None, :])
