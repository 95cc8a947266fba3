"""The project's one finite-difference gradient checker (float64, central differences).

Every op and block test uses :func:`check_gradients`: it builds the fake loss
L = sum(y * g) with a random cotangent g, runs the op's hand-written backward with
dy = g, and compares a random subset of each gradient's elements against central
differences (L(x + eps e_i) - L(x - eps e_i)) / (2 eps).

An element passes when |analytic - numeric| <= rtol * max(|analytic|, |numeric|) + atol.
With eps = 1e-5 in float64 the truncation error is O(eps^2) ~ 1e-10 relative and the
round-off O(1e-16 |L| / eps); atol covers that round-off for gradients near zero.
Ops with kinks (ReLU, the max in a band mask) must be tested on inputs kept away
from the kink by more than eps.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def _as_tuple(x) -> tuple:
    return x if isinstance(x, tuple) else (x,)


def fake_loss(y: np.ndarray, g: np.ndarray) -> float:
    """L = sum(y * g), summed in float64."""
    return float(np.sum(np.asarray(y, dtype=np.float64) * g))


def check_gradients(forward: Callable[..., tuple[Any, Any]],
                    backward: Callable[[np.ndarray, Any], Any],
                    args: Sequence[Any],
                    wrt: Sequence[int | None],
                    *,
                    rng: np.random.Generator,
                    select: Callable[[Any], np.ndarray] | None = None,
                    n_samples: int = 16,
                    eps: float = 1e-5,
                    rtol: float = 1e-6,
                    atol: float = 1e-8,
                    cotangent: np.ndarray | None = None) -> float:
    """Check an op's backward against central finite differences; assert on failure.

    Parameters
    ----------
    forward : callable
        ``forward(*args) -> (out, cache)``; ``out`` is the output array or a tuple
        of outputs from which ``select`` picks the differentiable one.
    backward : callable
        ``backward(dy, cache) -> grad`` or a tuple of gradients.
    args : sequence
        Forward arguments; those checked must be float64 arrays.
    wrt : sequence of int or None
        For each gradient that ``backward`` returns, the index in ``args`` of the
        input it belongs to, or None to skip it (for example a None gradient).
    rng : numpy Generator
        Draws the cotangent and the sampled elements.
    select : callable, optional
        Picks the differentiable output from ``out`` (default: ``out`` itself, or
        its first element when it is a tuple).
    n_samples : int
        Elements checked per gradient (all of them when the input is smaller).
    cotangent : ndarray, optional
        The g of the fake loss; random normal when not given. Pass one with zeros on
        padded frames to check that nothing flows from them.

    Returns
    -------
    float
        The largest error ratio |a - n| / (rtol max(|a|, |n|) + atol) seen (<= 1).
    """
    args = list(args)
    pick = select or (lambda out: out[0] if isinstance(out, tuple) else out)

    def loss(g):
        out, _ = forward(*args)
        return fake_loss(pick(out), g)

    out, cache = forward(*args)
    y = pick(out)
    g = rng.standard_normal(np.shape(y)) if cotangent is None else cotangent
    grads = _as_tuple(backward(g.astype(np.asarray(y).dtype), cache))
    if len(grads) != len(wrt):
        raise AssertionError(f"backward returned {len(grads)} gradients, wrt lists {len(wrt)}")

    worst = 0.0
    for grad, index in zip(grads, wrt):
        if index is None:
            continue
        x = args[index]
        assert isinstance(x, np.ndarray) and x.dtype == np.float64, \
            f"argument {index} must be a float64 array for the finite-difference check"
        assert grad is not None and grad.shape == x.shape, \
            f"gradient for argument {index} has shape {getattr(grad, 'shape', None)}, expected {x.shape}"
        n = x.size
        picks = rng.choice(n, size=min(n_samples, n), replace=False) if n else []
        for flat in picks:
            pos = np.unravel_index(flat, x.shape)
            orig = x[pos]
            x[pos] = orig + eps
            up = loss(g)
            x[pos] = orig - eps
            down = loss(g)
            x[pos] = orig
            numeric = (up - down) / (2 * eps)
            analytic = float(grad[pos])
            bound = rtol * max(abs(analytic), abs(numeric)) + atol
            ratio = abs(analytic - numeric) / bound
            if ratio > 1.0:
                raise AssertionError(
                    f"gradient mismatch for argument {index} at {tuple(int(p) for p in pos)}: "
                    f"analytic {analytic!r}, numeric {numeric!r} "
                    f"(|diff| {abs(analytic - numeric):.3e} > {bound:.3e})")
            worst = max(worst, ratio)
    return worst
