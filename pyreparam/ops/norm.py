"""Normalization layers: LayerNorm over the last axis, masked BatchNorm over (B, T).

Equations step by step: reference/ops_dense.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from pyreparam.ops.linear import column_sums


# ----------------------------------------------------------------------------- LayerNorm

class LayerNormCache(NamedTuple):
    """What :func:`layernorm_backward` needs from the forward."""

    xhat: np.ndarray        # (R, C), the normalized input, leading dims flattened to R rows
    rstd: np.ndarray        # (R,), 1 / sqrt(var + eps)
    gamma: np.ndarray       # (C,)


def layernorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      eps: float = 1e-5) -> tuple[np.ndarray, LayerNormCache]:
    """Normalize each row of x over its last axis, then scale and shift.

    Parameters
    ----------
    x : ndarray, (..., C), float32 or float64
    gamma, beta : ndarray, (C,), same dtype as x
    eps : float
        Added to the variance (as torch.nn.LayerNorm, default 1e-5).

    Returns
    -------
    y : ndarray, (..., C), dtype of x
    cache : LayerNormCache

    Notes
    -----
    Per row, with C elements and the *biased* variance (as torch.nn.LayerNorm):

        mu = mean(x),  var = mean((x - mu)^2),  rstd = 1 / sqrt(var + eps)
        xhat = (x - mu) rstd,   y = gamma * xhat + beta

    Backward, with row means <.>:

        dxhat  = dy * gamma
        dx     = rstd (dxhat - <dxhat> - xhat <dxhat * xhat>)
        dgamma = sum over rows of dy * xhat,   dbeta = sum over rows of dy

    Row sums are matrix-vector products (BLAS) and the row dot products einsums, so
    the only full-size arrays allocated are xhat (kept for the backward) and y.
    """
    C = x.shape[-1]
    x2 = x.reshape(-1, C)                          # (R, C)
    mu = x2 @ np.full(C, 1.0 / C, dtype=x.dtype)   # (R,), row means
    xc = x2 - mu[:, None]                          # (R, C), becomes xhat in place
    var = np.einsum("rc,rc->r", xc, xc)            # (R,), C * biased variance
    var *= 1.0 / C
    var += float(eps)
    rstd = np.sqrt(var, out=var)
    rstd = np.reciprocal(rstd, out=rstd)           # (R,)
    xhat = np.multiply(xc, rstd[:, None], out=xc)  # (R, C)
    y = xhat * gamma                               # (R, C)
    y += beta
    return y.reshape(x.shape), LayerNormCache(xhat, rstd, gamma)


def layernorm_backward(dy: np.ndarray, cache: LayerNormCache
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`layernorm_forward`.

    Parameters
    ----------
    dy : ndarray, (..., C)
    cache : LayerNormCache

    Returns
    -------
    dx : ndarray, (..., C)
    dgamma, dbeta : ndarray, (C,)
    """
    xhat, rstd, gamma = cache
    R, C = xhat.shape
    dy2 = dy.reshape(R, C)                         # (R, C)
    # y = gamma * xhat + beta
    dgamma = np.einsum("rc,rc->c", dy2, xhat)      # (C,)
    dbeta = column_sums(dy2)                       # (C,)
    dxhat = dy2 * gamma                            # (R, C)
    # xhat = (x - mu) rstd, with mu and rstd functions of the whole row:
    # dx = rstd dxhat - rstd <dxhat> - xhat rstd <dxhat * xhat>
    mean_dxhat = dy2 @ (gamma * (1.0 / C))         # (R,), <dxhat> = <dy * gamma>
    mean_dxhat_xhat = np.einsum("rc,rc->r", dxhat, xhat)  # (R,)
    mean_dxhat_xhat *= 1.0 / C
    mean_dxhat *= rstd
    mean_dxhat_xhat *= rstd
    dx = np.multiply(dxhat, rstd[:, None], out=dxhat)      # (R, C), reuses dxhat
    dx -= mean_dxhat[:, None]
    dx -= xhat * mean_dxhat_xhat[:, None]
    return dx.reshape(dy.shape), dgamma, dbeta


# ----------------------------------------------------------------------------- BatchNorm

class BatchNormCache(NamedTuple):
    """What :func:`batchnorm_backward` needs from the forward.

    ``mean`` and ``var`` are the statistics used to normalize: the batch mean and
    biased batch variance in train mode, the running ones in eval mode.
    """

    xhat: np.ndarray        # (B, T, C), 0 at padded frames
    rstd: np.ndarray        # (C,), 1 / sqrt(var + eps)
    gamma: np.ndarray       # (C,)
    valid: np.ndarray | None  # (B, T, 1) bool, None when every frame is valid
    mean: np.ndarray        # (C,)
    var: np.ndarray         # (C,)
    count: int              # number of valid frames, n
    train: bool


def batchnorm_forward(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray,
                      running_mean: np.ndarray, running_var: np.ndarray,
                      mask: np.ndarray | None = None, *, train: bool,
                      eps: float = 1e-5) -> tuple[np.ndarray, BatchNormCache]:
    """Batch normalization per channel over the valid frames of a padded batch.

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64
    gamma, beta : ndarray, (C,), dtype of x
    running_mean, running_var : ndarray, (C,)
        Used (read only) when ``train`` is False; update them after a train-mode
        forward with :func:`batchnorm_update_running`.
    mask : ndarray (B, T) bool or None
        True at valid frames; None means all frames are valid.
    train : bool
        True: normalize with the statistics of this batch's valid frames. False:
        normalize with the running statistics.
    eps : float

    Returns
    -------
    y : ndarray, (B, T, C), dtype of x; exactly 0 at padded frames (both modes).
    cache : BatchNormCache
        ``cache.mean``, ``cache.var`` (biased) and ``cache.count`` give the batch
        statistics in train mode.

    Notes
    -----
    With V the set of valid frames (b, t) and n = |V|, per channel:

        train:  mu = (1/n) sum_V x,  var = (1/n) sum_V (x - mu)^2    (biased)
        eval:   mu = running_mean,   var = running_var
        rstd = 1 / sqrt(var + eps),  xhat = (x - mu) rstd,  y = gamma xhat + beta on V
        y = 0 off V

    Backward (sums over V; dy off V is ignored):

        dbeta = sum_V dy,  dgamma = sum_V dy xhat,  dxhat = dy gamma
        train:  dx = rstd (dxhat - (1/n) sum_V dxhat - xhat (1/n) sum_V dxhat xhat)
        eval:   dx = rstd dxhat
        dx = 0 off V

    Padded frames enter nothing through ``np.where`` (not a multiplication by 0), so
    even inf or nan there cannot reach the valid outputs.
    """
    if x.ndim != 3:
        raise ValueError(f"batchnorm expects x of shape (B, T, C), got {x.shape}")
    valid = None if mask is None else np.asarray(mask, dtype=bool)[:, :, None]  # (B, T, 1)
    count = x.shape[0] * x.shape[1] if mask is None else int(np.count_nonzero(mask))
    if train:
        if count == 0:
            raise ValueError("batchnorm in train mode needs at least one valid frame")
        xv = x if valid is None else np.where(valid, x, 0)  # (B, T, C), 0 off V
        mean = column_sums(xv) / count                      # (C,)
        xc = xv - mean                                       # (B, T, C)
        if valid is not None:
            np.copyto(xc, 0, where=~valid)                   # 0 off V
        var = np.einsum("btc,btc->c", xc, xc) / count        # (C,), biased
    else:
        mean = running_mean.astype(x.dtype, copy=False)
        var = running_var.astype(x.dtype, copy=False)
        xc = x - mean                                        # (B, T, C)
        if valid is not None:
            np.copyto(xc, 0, where=~valid)
    rstd = 1 / np.sqrt(var + float(eps))                     # (C,)
    xhat = np.multiply(xc, rstd, out=xc)                     # (B, T, C), 0 off V
    y = xhat * gamma                                         # (B, T, C)
    y += beta
    if valid is not None:
        np.copyto(y, 0, where=~valid)                        # exactly 0 off V
    return y, BatchNormCache(xhat, rstd, gamma, valid, mean, var, count, train)


def batchnorm_backward(dy: np.ndarray, cache: BatchNormCache
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batchnorm_forward` (train or eval mode, as in the forward).

    Parameters
    ----------
    dy : ndarray, (B, T, C)
    cache : BatchNormCache

    Returns
    -------
    dx : ndarray, (B, T, C), exactly 0 at padded frames
    dgamma, dbeta : ndarray, (C,)
    """
    xhat, rstd, gamma, valid, _, _, count, train = cache
    # y = 0 off V: nothing flows back from padded frames
    dyv = dy if valid is None else np.where(valid, dy, 0)    # (B, T, C)
    # y = gamma xhat + beta on V
    dbeta = column_sums(dyv)                                # (C,)
    dgamma = np.einsum("btc,btc->c", dyv, xhat)              # (C,)
    dxhat = dyv * gamma                                      # (B, T, C), 0 off V
    if train:
        # xhat = (x - mu) rstd, with mu and var the batch statistics over V
        dx = dxhat
        dx -= dbeta * gamma / count                          # (1/n) sum_V dxhat
        dx -= xhat * (dgamma * gamma / count)                # xhat (1/n) sum_V dxhat xhat
        dx *= rstd
        if valid is not None:
            np.copyto(dx, 0, where=~valid)                   # the mean terms hit every frame
    else:
        # xhat = (x - running_mean) rstd: a per-channel scale
        dx = np.multiply(dxhat, rstd, out=dxhat)
    return dx, dgamma, dbeta


def batchnorm_update_running(running_mean: np.ndarray, running_var: np.ndarray,
                             cache: BatchNormCache, momentum: float = 0.1
                             ) -> tuple[np.ndarray, np.ndarray]:
    """New running statistics after a train-mode forward (PyTorch's rule); pure.

    Parameters
    ----------
    running_mean, running_var : ndarray, (C,)
        Not modified.
    cache : BatchNormCache
        From a train-mode :func:`batchnorm_forward`.
    momentum : float

    Returns
    -------
    new_mean, new_var : ndarray, (C,), dtype of the running statistics

    Notes
    -----
    With n valid frames and the biased batch variance var of the forward:

        new_mean = (1 - momentum) running_mean + momentum mu
        new_var  = (1 - momentum) running_var  + momentum var n / (n - 1)

    The unbiased variance needs n >= 2; with n = 1 this raises, as PyTorch's
    BatchNorm refuses a single value per channel in training.
    """
    if not cache.train:
        raise ValueError("running statistics are updated from a train-mode forward only")
    n = cache.count
    if n < 2:
        raise ValueError(f"the unbiased batch variance needs at least 2 valid frames, got {n}")
    unbiased = cache.var * (n / (n - 1))                     # (C,)
    new_mean = (1 - momentum) * running_mean + momentum * cache.mean.astype(running_mean.dtype)
    new_var = (1 - momentum) * running_var + momentum * unbiased.astype(running_var.dtype)
    return new_mean, new_var
