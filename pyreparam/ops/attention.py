r"""Scaled dot-product attention (global and local-window) and multi-head self-attention.

Shapes: x (B, T, C); per-head tensors q, k, v (B, H, T, D) with C = H D; a key
padding mask (B, T) bool, True = valid key.

Global attention builds the (B, H, T, T) score matrix with batched matmuls. Local
attention (SpeechFormer) lets query t see only keys t - w//2 .. t + w//2; it never
builds a dense score matrix: the keys are zero-padded by w//2 frames on both ends and
each query's w keys are reached by w shifted slices, so there are only w scores per
query, stored (B, H, w, T) (time last, so that every shifted slice is a run of
contiguous rows and the per-head broadcasts vectorize).

Excluded keys (padding, or outside [0, T) for a window) get probability exactly 0:
their score is set to -inf before the softmax. A query with no allowed key at all
gets all-zero probabilities and a zero context, never NaN.

The equations, step by step, are in reference/ops_attention.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from pyreparam.ops.linear import linear_backward, linear_forward

__all__ = [
    "split_heads", "merge_heads",
    "attention_forward", "attention_backward",
    "mha_forward", "mha_backward",
]


# ----------------------------------------------------------------------------------
# heads
# ----------------------------------------------------------------------------------

def split_heads(x: np.ndarray, n_heads: int) -> np.ndarray:
    """Split the channels of x into heads: (B, T, C) -> (B, H, T, D), a view.

    Parameters
    ----------
    x : ndarray, (B, T, C), float
    n_heads : int
        H; must divide C.

    Returns
    -------
    ndarray, (B, H, T, D) with D = C / H; a strided view of x (no copy).

    Notes
    -----
    out[b, h, t, d] = x[b, t, h D + d]. Pure re-indexing: its backward is
    :func:`merge_heads` and vice versa.
    """
    B, T, C = x.shape
    if C % n_heads:
        raise ValueError(f"n_heads={n_heads} does not divide the width C={C}")
    D = C // n_heads
    return x.reshape(B, T, n_heads, D).transpose(0, 2, 1, 3)       # (B, H, T, D)


def merge_heads(x: np.ndarray) -> np.ndarray:
    """Merge heads back into channels: (B, H, T, D) -> (B, T, C = H D).

    Parameters
    ----------
    x : ndarray, (B, H, T, D), float

    Returns
    -------
    ndarray, (B, T, H D); a view when x is a transposed view of a (B, T, C) array,
    else a contiguous copy.

    Notes
    -----
    out[b, t, h D + d] = x[b, h, t, d]; the inverse of :func:`split_heads`.
    """
    B, H, T, D = x.shape
    return x.transpose(0, 2, 1, 3).reshape(B, T, H * D)            # (B, T, C)


# ----------------------------------------------------------------------------------
# scaled dot-product attention
# ----------------------------------------------------------------------------------

class AttentionCache(NamedTuple):
    """What :func:`attention_backward` needs; the layout depends on the mode.

    Global (window None): qs, k, v (B, H, T, D), P (B, H, T, T) stored keys first:
    P[b, h, j, t] is the weight of key j for query t (the softmax's sums over keys
    then run down columns, which NumPy vectorizes, not along short rows).
    Local (window w): time last, so that shifted slices are contiguous rows:
    qs (B, H, D, T), k and v zero-padded (B, H, D, T + 2 (w//2)), P (B, H, w, T)
    with P[b, h, i, t] the weight of key t - w//2 + i for query t.
    """

    qs: np.ndarray           # q / sqrt(D)
    k: np.ndarray
    v: np.ndarray
    P: np.ndarray            # attention probabilities
    scale: np.ndarray        # 0-d, 1 / sqrt(D) in the input dtype
    window: int | None


def _masked_softmax_(S: np.ndarray, allowed: np.ndarray | None, axis: int) -> np.ndarray:
    """Softmax of S along `axis`, in place; entries that are not allowed get exactly 0.

    Rows with no allowed entry become all zero (not NaN). ``allowed`` is a bool
    array broadcasting against S, or None when every entry is allowed.
    """
    if allowed is not None:
        neg_inf = np.array(-np.inf, dtype=S.dtype)
        S += np.where(allowed, np.zeros((), S.dtype), neg_inf)     # exp(-inf) = 0
    return _softmax_(S, axis, allowed is not None)


def _softmax_(S: np.ndarray, axis: int, masked: bool) -> np.ndarray:
    """Softmax of S along `axis`, in place, excluded entries already -inf (``masked``:
    some may be, and a row with none left becomes all zero, not NaN)."""
    m = S.max(axis=axis, keepdims=True)
    if masked:
        m[~np.isfinite(m)] = 0                                      # rows with no key
    S -= m
    np.exp(S, out=S)
    denom = S.sum(axis=axis, keepdims=True)
    if masked:
        denom[denom == 0] = 1                                       # zero rows stay zero
    S *= 1 / denom
    return S


def _check_window(window: int | None) -> None:
    if window is None:
        return
    if isinstance(window, bool) or int(window) != window or window < 1 or window % 2 == 0:
        raise ValueError(f"window must be None or an odd int >= 1, got {window!r}")


def attention_forward(q: np.ndarray, k: np.ndarray, v: np.ndarray,
                      mask: np.ndarray | None = None,
                      window: int | None = None) -> tuple[np.ndarray, AttentionCache]:
    r"""Scaled dot-product attention per head, global or in a local window.

    Parameters
    ----------
    q, k, v : ndarray, (B, H, T, D), float32 or float64 (views are fine)
    mask : ndarray (B, T) bool, optional
        Key padding mask, True = valid key; None means every key is valid.
    window : int, optional
        None for global attention, or an odd w >= 1: query t attends only to keys
        t - w//2 .. t + w//2 that lie in [0, T) and are valid.

    Returns
    -------
    ctx : ndarray, (B, H, T, D), the input dtype (a transposed view in local mode)
    cache : AttentionCache

    Notes
    -----
    With A(t) the allowed keys of query t and s = 1 / sqrt(D):

        S[t, j] = s q[t] . k[j]                     j in A(t), else -inf
        P[t, :] = softmax(S[t, :])                  (all zero if A(t) is empty)
        ctx[t]  = sum_j P[t, j] v[j]

    Backward (dctx given):

        dv[j]    = sum_t P[t, j] dctx[t]
        dP[t, j] = dctx[t] . v[j]
        dS[t, j] = P[t, j] (dP[t, j] - sum_j' P[t, j'] dP[t, j'])
        dq[t]    = s sum_j dS[t, j] k[j]
        dk[j]    = s sum_t dS[t, j] q[t]

    Local mode stores only the w band entries, j = t - w//2 + i for i < w, and
    evaluates each sum over j as w shifted slices (no (T, T) array).
    """
    _check_window(window)
    scale = np.asarray(1.0 / np.sqrt(q.shape[-1]), dtype=q.dtype)
    if window is None:
        return _global_forward(q, k, v, mask, scale)
    return _local_forward(q, k, v, mask, scale, int(window))


def attention_backward(dctx: np.ndarray, cache: AttentionCache
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Backward of :func:`attention_forward`.

    Parameters
    ----------
    dctx : ndarray, (B, H, T, D)
    cache : AttentionCache

    Returns
    -------
    dq, dk, dv : ndarray, (B, H, T, D), the input dtype (transposed views in
        local mode)
    """
    if cache.window is None:
        return _global_backward(dctx, cache)
    return _local_backward(dctx, cache)


# global: (B, H, T, T) scores with batched matmuls, keys first ----------------------
#
# The scores are built transposed, S^T = k (q s)^T with S^T[j, t] = s q[t] . k[j], and
# the softmax runs over axis -2: its max and sum over the keys are then elementwise
# operations between contiguous rows (vectorized), where along the last axis of a
# (T, T) matrix they are one short reduction per query (2-3x slower for T = 75).
# The products take the transposed operands as they are (BLAS transposes).

def _global_forward(q, k, v, mask, scale):
    qs = q * scale                                                  # (B, H, T, D)
    St = k @ qs.swapaxes(-1, -2)                                    # (B, H, Tk, Tq)
    Pt = _softmax_over_keys_(St, mask)                              # (B, H, Tk, Tq)
    ctx = Pt.swapaxes(-1, -2) @ v                                   # (B, H, T, D)
    return ctx, AttentionCache(qs, k, v, Pt, scale, None)


def _softmax_over_keys_(St: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Softmax of keys-first scores St (B, H, Tk, Tq) over the keys, in place: an
    invalid key is a whole row of St, set to -inf row by row (not a mask added to every
    score), then :func:`_softmax_` along axis -2."""
    if mask is not None:
        invalid = ~np.asarray(mask, dtype=bool)                     # (B, Tk)
        St.transpose(0, 2, 1, 3)[invalid] = -np.inf                 # (B, Tk, H, Tq) view
    return _softmax_(St, -2, mask is not None)


def _global_backward(dctx, cache):
    qs, k, v, Pt, scale, _ = cache
    # ctx = P @ v,  P = Pt^T
    dv = Pt @ dctx                                                  # (B, H, T, D)
    dPt = v @ dctx.swapaxes(-1, -2)                                 # (B, H, Tk, Tq)
    # P = softmax(S) over keys:  dS = P (dP - sum_j P dP), in place in dPt
    dPt -= np.einsum("bhjt,bhjt->bht", Pt, dPt)[:, :, None, :]
    dSt = np.multiply(dPt, Pt, out=dPt)                             # (B, H, Tk, Tq)
    # S^T = k @ qs^T,  qs = q * scale
    dq = (dSt.swapaxes(-1, -2) @ k) * scale                         # (B, H, T, D)
    dk = dSt @ qs                                                   # (B, H, T, D)
    return dq, dk, dv


# local: (B, H, w, T) band scores from w shifted slices, time axis last ------------

def _time_last_padded(x: np.ndarray, half: int) -> np.ndarray:
    """(B, H, T, D) -> (B, H, D, T + 2 half), zero-padded on both ends of time."""
    B, H, T, D = x.shape
    xp = np.zeros((B, H, D, T + 2 * half), dtype=x.dtype)           # (B, H, D, T+2h)
    xp[..., half:half + T] = x.transpose(0, 1, 3, 2)
    return xp


def _band_allowed(mask: np.ndarray | None, B: int, T: int, w: int) -> np.ndarray:
    """allowed[b, i, t]: key t - w//2 + i lies in [0, T) and is valid. (B, w, T)."""
    half = w // 2
    valid = np.zeros((B, T + 2 * half), dtype=bool)                 # (B, T+2h)
    valid[:, half:half + T] = True if mask is None else mask
    return sliding_window_view(valid, T, axis=1)                    # (B, w, T), a view


def _local_forward(q, k, v, mask, scale, w):
    B, H, T, D = q.shape
    qs = np.empty((B, H, D, T), dtype=q.dtype)                      # (B, H, D, T)
    np.multiply(q.transpose(0, 1, 3, 2), scale, out=qs)
    kp = _time_last_padded(k, w // 2)                               # (B, H, D, T+2h)
    vp = _time_last_padded(v, w // 2)                               # (B, H, D, T+2h)
    S = np.empty((B, H, w, T), dtype=q.dtype)                       # (B, H, w, T)
    for i in range(w):          # key t - w//2 + i of query t is kp[..., t + i]
        np.einsum("bhdt,bhdt->bht", qs, kp[..., i:i + T], out=S[:, :, i])
    allowed = _band_allowed(mask, B, T, w)[:, None]                 # (B, 1, w, T)
    P = _masked_softmax_(S, allowed, axis=2)                        # (B, H, w, T)
    ctx = np.multiply(P[:, :, 0, None], vp[..., 0:T])               # (B, H, D, T)
    for i in range(1, w):
        ctx += P[:, :, i, None] * vp[..., i:i + T]
    return ctx.transpose(0, 1, 3, 2), AttentionCache(qs, kp, vp, P, scale, w)


def _local_backward(dctx, cache):
    qs, kp, vp, P, scale, w = cache
    B, H, D, T = qs.shape
    half = w // 2
    dc = np.ascontiguousarray(dctx.transpose(0, 1, 3, 2))           # (B, H, D, T)
    tmp = np.empty_like(dc)                                         # (B, H, D, T)
    # ctx[t] = sum_i P[i, t] vp[t + i]
    dP = np.empty_like(P)                                           # (B, H, w, T)
    dvp = np.zeros_like(vp)                                         # (B, H, D, T+2h)
    for i in range(w):
        np.einsum("bhdt,bhdt->bht", dc, vp[..., i:i + T], out=dP[:, :, i])
        np.multiply(P[:, :, i, None], dc, out=tmp)
        dvp[..., i:i + T] += tmp
    # P = softmax(S) over i:  dS = P (dP - sum_i P dP), in place in dP
    dP -= np.einsum("bhwt,bhwt->bht", P, dP)[:, :, None]
    dS = np.multiply(dP, P, out=dP)                                 # (B, H, w, T)
    # S[i, t] = qs[t] . kp[t + i],  qs = q * scale
    dq = np.multiply(dS[:, :, 0, None], kp[..., 0:T])               # (B, H, D, T)
    dkp = np.zeros_like(kp)                                         # (B, H, D, T+2h)
    for i in range(w):
        if i > 0:
            np.multiply(dS[:, :, i, None], kp[..., i:i + T], out=tmp)
            dq += tmp
        np.multiply(dS[:, :, i, None], qs, out=tmp)
        dkp[..., i:i + T] += tmp
    dq *= scale
    dk = dkp[..., half:half + T]                                    # (B, H, D, T)
    dv = dvp[..., half:half + T]                                    # (B, H, D, T)
    return dq.transpose(0, 1, 3, 2), dk.transpose(0, 1, 3, 2), dv.transpose(0, 1, 3, 2)


# ----------------------------------------------------------------------------------
# multi-head self-attention
# ----------------------------------------------------------------------------------

class PackedAttentionCache(NamedTuple):
    attn: AttentionCache
    n_heads: int


def packed_attention_forward(qkv: np.ndarray, n_heads: int, mask: np.ndarray | None = None,
                             window: int | None = None
                             ) -> tuple[np.ndarray, PackedAttentionCache]:
    """Attention on a packed projection: [Q K V] (B, T, 3C) -> merged context (B, T, C).

    The piece between the two projections of multi-head attention: split the packed
    projection into heads, :func:`attention_forward`, merge the heads.
    """
    C = qkv.shape[-1] // 3
    q = split_heads(qkv[..., :C], n_heads)                          # (B, H, T, D)
    k = split_heads(qkv[..., C:2 * C], n_heads)                     # (B, H, T, D)
    v = split_heads(qkv[..., 2 * C:], n_heads)                      # (B, H, T, D)
    ctx, attn_cache = attention_forward(q, k, v, mask, window)      # (B, H, T, D)
    return merge_heads(ctx), PackedAttentionCache(attn_cache, n_heads)   # (B, T, C)


def packed_attention_backward(dctx: np.ndarray, cache: PackedAttentionCache) -> np.ndarray:
    """Gradient of the packed projection (B, T, 3C) given that of the merged context."""
    # ctx = attention(split(q), split(k), split(v))
    dq, dk, dv = attention_backward(split_heads(dctx, cache.n_heads), cache.attn)
    B, H, T, D = dq.shape
    dqkv = np.empty((B, T, 3, H, D), dtype=dq.dtype)                # (B, T, 3, H, D)
    for part, grad in enumerate((dq, dk, dv)):                      # merge_heads, in place
        dqkv[:, :, part] = grad.transpose(0, 2, 1, 3)
    return dqkv.reshape(B, T, 3 * H * D)                            # (B, T, 3C)


class MHACache(NamedTuple):
    qkv: object              # linear cache of the input projection
    attn: PackedAttentionCache
    out: object              # linear cache of the output projection


def mha_forward(x: np.ndarray, w_qkv: np.ndarray, b_qkv: np.ndarray | None,
                w_o: np.ndarray, b_o: np.ndarray | None,
                mask: np.ndarray | None = None, n_heads: int = 1,
                window: int | None = None) -> tuple[np.ndarray, MHACache]:
    """Multi-head self-attention with input and output projections.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    w_qkv : ndarray, (3C, C)
        Rows [W_q; W_k; W_v] (torch.nn.MultiheadAttention's in_proj_weight layout).
    b_qkv : ndarray (3C,) or None
    w_o : ndarray, (C, C)
    b_o : ndarray (C,) or None
    mask : ndarray (B, T) bool, optional
        Key padding mask, True = valid.
    n_heads : int
        H; must divide C.
    window : int, optional
        None (global) or an odd local window, see :func:`attention_forward`.

    Returns
    -------
    y : ndarray, (B, T, C), x's dtype
    cache : MHACache

    Notes
    -----
    Forward:

        [Q K V] = x W_qkv^T + b_qkv                  (B, T, 3C)
        ctx_h   = attention(Q_h, K_h, V_h)           per head h, (B, H, T, D)
        y       = merge(ctx) W_o^T + b_o             (B, T, C)

    Backward runs the same pieces in reverse: linear, split_heads, attention,
    merge_heads, linear; dQ, dK, dV are concatenated back into (B, T, 3C).
    """
    qkv, qkv_cache = linear_forward(x, w_qkv, b_qkv)                # (B, T, 3C)
    ctx, attn_cache = packed_attention_forward(qkv, n_heads, mask, window)   # (B, T, C)
    y, out_cache = linear_forward(ctx, w_o, b_o)                    # (B, T, C)
    return y, MHACache(qkv_cache, attn_cache, out_cache)


def mha_backward(dy: np.ndarray, cache: MHACache):
    """Backward of :func:`mha_forward`.

    Parameters
    ----------
    dy : ndarray, (B, T, C)
    cache : MHACache

    Returns
    -------
    dx : ndarray (B, T, C)
    dw_qkv : ndarray (3C, C)
    db_qkv : ndarray (3C,) or None (when b_qkv was None)
    dw_o : ndarray (C, C)
    db_o : ndarray (C,) or None (when b_o was None)
    """
    # y = merge(ctx) W_o^T + b_o
    dctx, dw_o, db_o = linear_backward(dy, cache.out)               # (B, T, C)
    # ctx = attention(split(q), split(k), split(v))
    dqkv = packed_attention_backward(dctx, cache.attn)              # (B, T, 3C)
    # [q k v] = x W_qkv^T + b_qkv
    dx, dw_qkv, db_qkv = linear_backward(dqkv, cache.qkv)
    return dx, dw_qkv, db_qkv, dw_o, db_o
