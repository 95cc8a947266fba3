r"""HRF re-parameterization: the exact fold of training-time factors (deHRF).

Derivation
----------
Weights are stored (out, in). A linear map with an HRF chain of k factors in front,

    y = W1' (H_k (... (H_2 (H_1 x + c_1) + c_2) ...) + c_k) + b1,

    H_i : (r_i, r_{i-1}),  r_0 = C,   W1' : (F, r_k),

is affine in x, so it equals a single linear layer y = W1 x + b. Writing
P_k = W1' and P_{i-1} = P_i H_i (so P_i = W1' H_k ... H_{i+1}),

    W1 = P_0 = W1' H_k ... H_1                          (F, C)
    b  = b1 + sum_{i=1..k} P_i c_i                      (F,)

because the bias c_i enters after H_i and is then carried to the output by exactly
the maps that follow it, H_{i+1} ... H_k and W1'.

Conditions for exactness
------------------------
* Nothing non-linear or data-dependent lies between the factors and W1': no
  activation, normalization or dropout (dropout is off in eval mode; pyreparam puts
  no dropout inside the chain at all). In a pre-LN block the chain sits after the
  LayerNorm; in a post-LN block directly before W1'.
* The fold is exact in real arithmetic; in floating point it changes rounding only
  (the order of the sums), which the tests bound.
* The merged rank is at most min(C, F, r_1, ..., r_k): HRF adds no capacity to the
  deployed model, only to the training dynamics.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def fold_hrf_chain(W1p: np.ndarray, b1: np.ndarray | None,
                   factors: Sequence[tuple[np.ndarray, np.ndarray | None]]
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Fold HRF factors H_1..H_k (with biases c_i) into the linear layer after them.

    The readable NumPy reference; :func:`pyreparam.native.hrf_fold` is the C kernel
    that computes the same in one call.

    Parameters
    ----------
    W1p : ndarray, (F, r_k)
        The linear layer after the chain (W1').
    b1 : ndarray (F,) or None
        Its bias; None means zero.
    factors : sequence of (H_i, c_i), applied first (i = 1) to last (i = k)
        H_i : (r_i, r_{i-1}) with r_0 = C; c_i : (r_i,) or None.

    Returns
    -------
    W1 : ndarray, (F, C)
        W1' H_k ... H_1.
    b : ndarray, (F,)
        b1 + sum_i W1' H_k ... H_{i+1} c_i.
    """
    if len(factors) == 0:
        raise ValueError("an HRF chain needs at least one factor")
    P = W1p                                        # P_k, (F, r_k)
    b = np.zeros(W1p.shape[0], dtype=W1p.dtype) if b1 is None else b1.copy()
    for H, c in reversed(factors):                 # i = k .. 1
        if H.shape[0] != P.shape[1]:
            raise ValueError(f"factor of shape {H.shape} cannot feed a layer of input "
                             f"width {P.shape[1]}")
        if c is not None:
            b = b + P @ c                          # (F,)
        P = P @ H                                  # P_{i-1}, (F, r_{i-1})
    return P, b
