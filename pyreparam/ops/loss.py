"""Cross-entropy over class logits, with class weights and label smoothing.

Defined exactly as torch.nn.functional.cross_entropy(reduction='mean', weight=w,
label_smoothing=eps). Derivation of the gradient: reference/ops_loss_optim.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class CrossEntropyCache(NamedTuple):
    """What :func:`cross_entropy_backward` needs; ``probs`` is the softmax, for reuse."""

    probs: np.ndarray       # (B, N), softmax of the logits
    q: np.ndarray           # (B, N), per-sample target weights q_bc
    q_sum: np.ndarray       # (B, 1), sum over c of q_bc
    denom: float            # sum over b of w[label_b]


def cross_entropy_forward(logits: np.ndarray, labels: np.ndarray,
                          class_weights: np.ndarray | None = None,
                          label_smoothing: float = 0.0
                          ) -> tuple[float, CrossEntropyCache]:
    """Mean cross-entropy of integer labels under softmax(logits), as PyTorch defines it.

    Parameters
    ----------
    logits : ndarray, (B, N), float32 or float64
    labels : ndarray, (B,), integer in [0, N)
    class_weights : ndarray (N,) or None
        Per-class weights w (None means all 1). Cast to the logits' dtype.
    label_smoothing : float in [0, 1]

    Returns
    -------
    loss : float
    cache : CrossEntropyCache
        ``cache.probs`` (B, N) is softmax(logits), in the logits' dtype.

    Raises
    ------
    ValueError
        Bad shapes, labels outside [0, N), an empty batch, label_smoothing outside
        [0, 1], or target-class weights summing to 0 (torch would return nan).

    Notes
    -----
    With log p = log_softmax(logits), e = label_smoothing, y_b the label of row b and
    the target weights q_bc = w_c ((1 - e) [c = y_b] + e / N):

        loss = sum_b sum_c q_bc (-log p_bc) / sum_b w_{y_b}

    which is torch's (1 - e) nll_loss(weight=w) + (e / N) sum_b sum_c w_c (-log p_bc)
    / sum_b w_{y_b} (the weighted mean divides by the target classes' weights, for the
    smoothing term too). Backward, with Q_b = sum_c q_bc:

        dlogits_bc = dloss (Q_b p_bc - q_bc) / sum_b w_{y_b}
    """
    if logits.ndim != 2:
        raise ValueError(f"logits must be (B, N), got shape {logits.shape}")
    B, N = logits.shape
    labels = np.asarray(labels)
    if labels.shape != (B,) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"labels must be integers of shape ({B},), got {labels.dtype} {labels.shape}")
    if B == 0:
        raise ValueError("cross-entropy of an empty batch is undefined")
    if labels.min() < 0 or labels.max() >= N:
        raise ValueError(f"labels must lie in [0, {N}), got range [{labels.min()}, {labels.max()}]")
    e = float(label_smoothing)
    if not 0.0 <= e <= 1.0:
        raise ValueError(f"label_smoothing must be in [0, 1], got {e}")
    dtype = logits.dtype
    w = (np.ones(N, dtype=dtype) if class_weights is None
         else np.asarray(class_weights).astype(dtype, copy=False))     # (N,)

    z = logits - logits.max(axis=1, keepdims=True)                     # (B, N)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))            # (B, N), log softmax
    probs = np.exp(logp)                                               # (B, N)

    rows = np.arange(B)
    q = np.broadcast_to(w * (e / N), (B, N)).copy()                    # (B, N), smoothing part
    q[rows, labels] += (1.0 - e) * w[labels]                           # + label part
    q_sum = q.sum(axis=1, keepdims=True)                               # (B, 1)
    denom = float(w[labels].sum())
    if denom == 0.0:
        raise ValueError("the target classes' weights sum to 0: the weighted mean is undefined")
    loss = float(-np.einsum("bc,bc->", q, logp)) / denom
    return loss, CrossEntropyCache(probs, q, q_sum, denom)


def cross_entropy_backward(dloss: float, cache: CrossEntropyCache) -> np.ndarray:
    """Gradient of :func:`cross_entropy_forward` with respect to the logits.

    Parameters
    ----------
    dloss : float
        Gradient of the final objective with respect to the loss (usually 1.0).
    cache : CrossEntropyCache

    Returns
    -------
    dlogits : ndarray, (B, N), dtype of the logits
    """
    probs, q, q_sum, denom = cache
    # loss = sum_bc q_bc (-log p_bc) / denom,  d(-log p_bc)/dz_bj = p_bj - [c = j]
    dlogits = probs * q_sum                                            # (B, N)
    dlogits -= q
    dlogits *= float(dloss) / denom
    return dlogits


class DistillCache(NamedTuple):
    """What :func:`distill_backward` needs."""

    probs: np.ndarray       # (B, N), softmax(logits / T)
    targets: np.ndarray     # (B, N), the teacher's probabilities
    temperature: float


def distill_forward(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0
                    ) -> tuple[float, DistillCache]:
    """Knowledge distillation (Hinton et al. 2015): soft-target cross-entropy at T.

    Parameters
    ----------
    logits : ndarray, (B, N), float32 or float64
        The student's logits z.
    targets : ndarray, (B, N)
        The teacher's probabilities q (rows sum to 1), usually softmax(teacher / T).
    temperature : float > 0

    Returns
    -------
    loss : float
    cache : DistillCache

    Notes
    -----
    With p = softmax(z / T):

        loss = (T^2 / B) sum_b sum_c q_bc (-log p_bc)
        dz_bc = dloss (T / B) (p_bc - q_bc)

    (the T^2 keeps the gradient's scale independent of T; the loss differs from the
    KL divergence KL(q || p) by the teacher's entropy, a constant).
    """
    if logits.shape != targets.shape or logits.ndim != 2 or logits.shape[0] == 0:
        raise ValueError(f"logits {logits.shape} and targets {np.shape(targets)} must be "
                         "the same non-empty (B, N)")
    if not temperature > 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    T = float(temperature)
    z = logits / np.asarray(T, dtype=logits.dtype)
    z = z - z.max(axis=1, keepdims=True)                               # (B, N)
    logp = z - np.log(np.exp(z).sum(axis=1, keepdims=True))            # (B, N)
    q = np.asarray(targets).astype(logits.dtype, copy=False)
    loss = float(-np.einsum("bc,bc->", q, logp)) * T * T / logits.shape[0]
    return loss, DistillCache(np.exp(logp), q, T)


def distill_backward(dloss: float, cache: DistillCache) -> np.ndarray:
    """Gradient of :func:`distill_forward` with respect to the student's logits."""
    probs, q, T = cache
    # loss = (T^2 / B) sum q (-log softmax(z / T)): d/dz = (T / B) (p - q)
    return (probs - q) * (float(dloss) * T / probs.shape[0])
