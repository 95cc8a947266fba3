"""AdamW (as torch.optim.AdamW), global gradient-norm clipping, warmup + cosine schedule.

Parameters and gradients are dicts of named arrays. For speed, :func:`adamw_step`
and :func:`clip_grad_norm` modify arrays IN PLACE (the parameters, the moment
buffers, the gradients respectively); everything else is pure. Equations:
reference/ops_loss_optim.md.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np


class AdamWState(NamedTuple):
    """Optimizer state: the number of steps taken and the two moment buffers.

    ``m`` and ``v`` map each parameter name to an array of that parameter's shape
    and dtype; :func:`adamw_step` updates them in place and returns a new state
    with ``step`` incremented.
    """

    step: int
    m: dict[str, np.ndarray]
    v: dict[str, np.ndarray]


def adamw_init(params: Mapping[str, np.ndarray]) -> AdamWState:
    """Zero moment buffers for every parameter, step count 0.

    Parameters
    ----------
    params : dict of str -> ndarray

    Returns
    -------
    AdamWState
        m and v zero, in each parameter's shape and dtype.
    """
    return AdamWState(0,
                      {name: np.zeros_like(p) for name, p in params.items()},
                      {name: np.zeros_like(p) for name, p in params.items()})


def adamw_step(params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray],
               state: AdamWState, lr: float, *, betas: tuple[float, float] = (0.9, 0.999),
               eps: float = 1e-8, weight_decay: float = 0.01,
               groups: Mapping[str, tuple[float, float]] | None = None) -> AdamWState:
    """One AdamW update of every parameter, IN PLACE, exactly as torch.optim.AdamW.

    Parameters
    ----------
    params : dict of str -> ndarray
        Updated in place (the arrays themselves, so views held elsewhere see the
        new values).
    grads : dict of str -> ndarray
        A gradient for every parameter, same shape; not modified.
    state : AdamWState
        From :func:`adamw_init` or the previous step; its m and v arrays are
        updated in place.
    lr : float
        Base learning rate for this step.
    betas, eps, weight_decay : float
        As torch.optim.AdamW (defaults equal to torch's).
    groups : dict of str -> (lr_multiplier, weight_decay), optional
        Per-parameter overrides: that parameter uses learning rate
        lr * lr_multiplier and the given weight decay.

    Returns
    -------
    AdamWState
        The state with ``step`` incremented (same m and v dicts).

    Notes
    -----
    With t = state.step + 1 and, per parameter, its lr and weight decay wd:

        p = p (1 - lr wd)                              (decoupled weight decay)
        m = b1 m + (1 - b1) g
        v = b2 v + (1 - b2) g^2
        p = p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
    """
    missing = params.keys() - grads.keys()
    if missing:
        raise KeyError(f"no gradient for parameters {sorted(missing)}")
    b1, b2 = float(betas[0]), float(betas[1])
    t = state.step + 1
    bias_correction1 = 1.0 - b1 ** t
    bias_correction2_sqrt = math.sqrt(1.0 - b2 ** t)
    groups = groups or {}
    for name, p in params.items():
        lr_mult, wd = groups.get(name, (1.0, weight_decay))
        _adamw_update(p, grads[name], state.m[name], state.v[name],
                      float(lr) * float(lr_mult), float(wd), b1, b2, float(eps),
                      bias_correction1, bias_correction2_sqrt)
    return state._replace(step=t)


def _adamw_update(p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray,
                  lr: float, wd: float, b1: float, b2: float, eps: float,
                  bias_correction1: float, bias_correction2_sqrt: float) -> None:
    """The AdamW update of one array, in place; one scratch array of p's size."""
    if wd != 0.0:
        p *= 1.0 - lr * wd                             # decoupled weight decay
    m *= b1
    scratch = np.empty_like(p)
    np.multiply(g, 1.0 - b1, out=scratch)              # (1 - b1) g
    m += scratch
    v *= b2
    np.multiply(g, g, out=scratch)
    scratch *= 1.0 - b2
    v += scratch                                       # b2 v + (1 - b2) g^2
    np.sqrt(v, out=scratch)
    scratch /= bias_correction2_sqrt
    scratch += eps                                     # denominator
    np.divide(m, scratch, out=scratch)
    scratch *= lr / bias_correction1
    p -= scratch


def clip_grad_norm(grads: Mapping[str, np.ndarray], max_norm: float) -> float:
    """Scale all gradients IN PLACE so that their global L2 norm is at most max_norm.

    Parameters
    ----------
    grads : dict of str -> ndarray
        Modified in place when clipping happens.
    max_norm : float

    Returns
    -------
    float
        The global norm before clipping, sqrt(sum over arrays of sum g^2).

    Notes
    -----
    As torch.nn.utils.clip_grad_norm_: coef = max_norm / (total_norm + 1e-6) and
    every gradient is multiplied by coef when coef < 1 (i.e. when total_norm
    exceeds max_norm, up to the 1e-6). The squares are summed per array in the
    gradients' dtype (BLAS dot), then across arrays in float64. Unlike torch, a
    non-finite total norm leaves the gradients unchanged (torch would fill them
    with nan); the caller sees the non-finite return value and can skip the step.
    """
    total_sq = 0.0
    for g in grads.values():
        flat = g.reshape(-1)
        total_sq += float(np.dot(flat, flat))
    total_norm = math.sqrt(total_sq)
    coef = float(max_norm) / (total_norm + 1e-6)
    if coef < 1.0:
        for g in grads.values():
            g *= coef
    return total_norm


def warmup_cosine_lr(step: int, total_steps: int, warmup_steps: int, peak_lr: float,
                     final_lr: float = 0.0) -> float:
    """Learning rate for an update: linear warmup from 0, then cosine decay.

    Parameters
    ----------
    step : int
        0-based index of the update about to be taken (the number of updates
        already done), i.e. ``state.step`` before :func:`adamw_step`.
    total_steps : int
        Length of the schedule, S; steps >= S get ``final_lr``.
    warmup_steps : int
        W, with 0 <= W <= S.
    peak_lr, final_lr : float

    Returns
    -------
    float

    Notes
    -----
        s < W:       lr = peak_lr s / W
        W <= s < S:  lr = final_lr + (peak_lr - final_lr) (1 + cos(pi (s - W) / (S - W))) / 2
        s >= S:      lr = final_lr

    So lr(0) = 0 when W > 0 (that update only feeds Adam's moments), lr(W) = peak_lr,
    and the cosine reaches final_lr at s = S; the formula is continuous at W and S.
    """
    if step < 0 or warmup_steps < 0 or total_steps < warmup_steps:
        raise ValueError(f"need step >= 0 and 0 <= warmup_steps <= total_steps, got "
                         f"step={step}, warmup_steps={warmup_steps}, total_steps={total_steps}")
    if step < warmup_steps:
        return float(peak_lr) * step / warmup_steps
    if step >= total_steps:
        return float(final_lr)
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return float(final_lr) + (float(peak_lr) - float(final_lr)) * 0.5 * (1.0 + math.cos(math.pi * progress))
