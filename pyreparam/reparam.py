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

The augmented-matrix form makes the fold one product: with A_i = [[H_i, c_i], [0, 1]]
((r_i + 1) x (r_{i-1} + 1)), the chain maps [x; 1] to A_k ... A_1 [x; 1], so

    [W1, b] = [W1', b1] A_k ... A_1

(reference/hrf.md writes this out).

Other structural folds
----------------------
The deployed int8 graph needs two more exact identities, also here as small pure
functions (DiverseBranchBlock's ``transI_fusebn`` style): an eval-mode BatchNorm after a
depthwise convolution folds into it (:func:`fold_batchnorm_into_conv`), and a constant
scale after a linear map folds into its weights and bias (:func:`fold_scale_into_linear`,
the Conformer's half-step FFNs).

Naming contract: the factors in front of linear ``name`` are ``name.hrf.0`` ..
``name.hrf.{k-1}`` (first to last), each with ``.w`` and optionally ``.b``
(:func:`pyreparam.models.layers.hrf_chain_names`, the one place that spells it).
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pyreparam.models.layers import hrf_chain_names


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


# --------------------------------------------------------------------------- whole models

class MergeError(ValueError):
    """The model cannot be merged (already merged, or trained without HRF)."""


def hrf_chains(params: dict[str, np.ndarray]) -> dict[str, list[str]]:
    """Every linear map that has an HRF chain: {layer name: [factor prefixes, first to last]}."""
    first = ".hrf.0.w"          # hrf_chain_names' first factor
    return {key[:-len(first)]: hrf_chain_names(params, key[:-len(first)])
            for key in params if key.endswith(first)}


def fold_batchnorm_into_conv(w: np.ndarray, b: np.ndarray | None, gamma: np.ndarray,
                             beta: np.ndarray, mean: np.ndarray, var: np.ndarray,
                             eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Fold an eval-mode BatchNorm into the convolution (or linear map) before it.

    Parameters
    ----------
    w : ndarray, (C, ...)
        Weights, output channel first (a depthwise conv's (C, K), a linear's (C, in)).
    b : ndarray (C,) or None
    gamma, beta, mean, var : ndarray, (C,)
        BatchNorm's affine parameters and running statistics.
    eps : float

    Returns
    -------
    (w', b') with, per output channel c and s_c = gamma_c / sqrt(var_c + eps),

        BN(conv(x)) = s (w x + b - mean) + beta = (s w) x + ((b - mean) s + beta)
        w'_c = s_c w_c,   b'_c = (b_c - mean_c) s_c + beta_c
    """
    s = np.asarray(gamma) / np.sqrt(np.asarray(var) + eps)                  # (C,)
    bias = np.zeros_like(s) if b is None else np.asarray(b)
    w = np.asarray(w)
    return w * s.reshape((-1,) + (1,) * (w.ndim - 1)), (bias - mean) * s + beta


def fold_scale_into_linear(w: np.ndarray, b: np.ndarray | None, scale: float
                           ) -> tuple[np.ndarray, np.ndarray | None]:
    """scale (W x + b) = (scale W) x + scale b: a constant factor after a linear map."""
    return np.asarray(w) * scale, None if b is None else np.asarray(b) * scale


def fold_model_params(params: dict[str, np.ndarray], *, use_c: bool = True
                      ) -> dict[str, np.ndarray]:
    """New parameter dict with every HRF chain folded into the linear after it.

    Folds in float64 (the C kernel ``pr_hrf_fold_f64`` by default, the NumPy reference
    with ``use_c=False``) and casts back to each layer's dtype; the input dict is not
    modified.
    """
    from pyreparam import native   # the C wrappers; imported here to keep this module light

    chains = hrf_chains(params)
    in_chain = {f"{f}.{p}" for factors in chains.values() for f in factors for p in "wb"}
    merged = {k: v.copy() for k, v in params.items() if k not in in_chain}
    up = lambda a: None if a is None else np.ascontiguousarray(a, dtype=np.float64)
    for layer, factors in chains.items():
        W1p, b1 = params[f"{layer}.w"], params.get(f"{layer}.b")
        chain = [(up(params[f"{f}.w"]), up(params.get(f"{f}.b"))) for f in factors]
        fold = native.hrf_fold if use_c else fold_hrf_chain
        W1, b = fold(up(W1p), up(b1), chain)
        merged[f"{layer}.w"] = W1.astype(W1p.dtype)
        # the folded bias exists whenever any factor or the layer had one
        if b1 is not None or any(c is not None for _, c in chain):
            merged[f"{layer}.b"] = b.astype(W1p.dtype)
    return merged


def merge(model, *, use_c: bool = True):
    """deHRF: a new, merged model computing the same function without HRF factors.

    The result's config has no HRF, and its parameter names and shapes are exactly
    those of the same backbone and size built without HRF. The trained model is left
    untouched. Raises MergeError for a model without HRF factors (already merged or
    trained without HRF).
    """
    from pyreparam.models.model import Model

    if model.config.hrf is None:
        how = ("it was already merged (from HRF " + _describe(model.merged_from) + ")"
               if model.merged_from else "it was built without HRF")
        raise MergeError(f"nothing to merge: the model has no HRF factors; {how}")
    if not hrf_chains(model.params):
        raise MergeError("the model's config has HRF but its parameters hold no factors")
    return Model(model.config.without_hrf(), fold_model_params(model.params, use_c=use_c),
                 {k: v.copy() for k, v in model.buffers.items()},
                 merged_from=model.config.to_dict()["hrf"])


def _describe(hrf: dict | None) -> str:
    if not hrf:
        return "unknown settings"
    return f"r={hrf.get('r')}, k={hrf.get('k')}, sites={','.join(hrf.get('sites', []))}"


def verify_merge(model, merged, *, seed: int = 0, lengths=(1, 37, 100, 301), batch: int = 4
                 ) -> tuple[float, float]:
    """Largest absolute and relative logit difference between a model and its merge.

    Both are evaluated in float64, eval mode, on random log-mel batches with padded
    tails: for each length in ``lengths`` a batch of ``batch`` utterances whose valid
    lengths are drawn between 1 and that length. Relative = max |a - b| / max |a|.
    A non-finite logit in either model makes both differences ``inf``: a broken model
    never passes a tolerance.
    """
    rng = np.random.default_rng(seed)
    a64, b64 = model.astype(np.float64), merged.astype(np.float64)
    worst_abs = worst_rel = 0.0
    for T in lengths:
        x = rng.standard_normal((batch, T, model.config.n_mels))
        valid = rng.integers(1, T + 1, size=batch)
        valid[0] = T
        mask = np.arange(T)[None, :] < valid[:, None]
        ya, yb = a64.predict_logits(x, mask), b64.predict_logits(x, mask)
        if not (np.isfinite(ya).all() and np.isfinite(yb).all()):
            return float("inf"), float("inf")
        diff = float(np.max(np.abs(ya - yb)))
        worst_abs = max(worst_abs, diff)
        worst_rel = max(worst_rel, diff / max(float(np.max(np.abs(ya))), 1e-300))
    return worst_abs, worst_rel
