"""Inverted dropout with the keep-mask drawn from an explicit numpy Generator.

Equations: reference/ops_dense.md.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np


class DropoutCache(NamedTuple):
    """What :func:`dropout_backward` needs: the scaled keep-mask, or None for identity."""

    scaled_keep: np.ndarray | None  # same shape and dtype as x: 1 / (1 - p) kept, 0 dropped


def keep_draws(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """The uniform uint16 draws of a dropout mask: the generator's raw 64-bit outputs
    (``rng.bit_generator.random_raw``) read as 16-bit words, four per output (~10x
    faster than ``rng.bytes`` for a 32 x 75 x 256 mask, which copies twice)."""
    n = int(np.prod(shape))
    return rng.bit_generator.random_raw((n + 3) // 4).view(np.uint16)[:n].reshape(shape)


def keep_threshold(p: float) -> int:
    """t with keep = [u >= t] for the uint16 draws u: P(keep) = 1 - t / 65536."""
    return int(round(p * 65536))


def dropout_forward(x: np.ndarray, p: float, rng: np.random.Generator,
                    train: bool = True) -> tuple[np.ndarray, DropoutCache]:
    """Zero each element with probability p and scale the rest by 1 / (1 - p).

    Parameters
    ----------
    x : ndarray, any shape, float32 or float64
    p : float in [0, 1]
        Drop probability.
    rng : numpy Generator
        The only source of randomness. A 16-bit word of its raw output per element
        (see :func:`keep_draws`), whatever x's dtype, so a given
        generator state gives the same mask for float32 and float64 inputs. Nothing
        is drawn in the identity case.
    train : bool
        When False (or when p == 0) the op is the identity and returns x itself
        (not a copy), as torch.nn.functional.dropout does.

    Returns
    -------
    y : ndarray, shape and dtype of x
    cache : DropoutCache

    Notes
    -----
    With u uniform in 0 .. 65535 per element, t = round(65536 p) and keep = [u >= t]
    (so P(keep) = 1 - t / 65536, within 2^-17 of 1 - p; half the random bytes of a
    float32 uniform, and no conversion):

        forward   y = x * keep / (1 - p)
        backward  dx = dy * keep / (1 - p)

    p == 1 drops everything: y = 0 and dx = 0 (the scale is not formed).
    """
    p = float(p)
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not train or p == 0.0:
        return x, DropoutCache(None)
    if p == 1.0:
        scaled_keep = np.zeros_like(x)
    else:
        u = keep_draws(rng, x.shape)                       # same shape as x
        scaled_keep = (u >= keep_threshold(p)).astype(x.dtype)
        scaled_keep *= 1.0 / (1.0 - p)
    y = x * scaled_keep
    return y, DropoutCache(scaled_keep)


def dropout_backward(dy: np.ndarray, cache: DropoutCache) -> np.ndarray:
    """Gradient of :func:`dropout_forward`: the same scaled mask applied to dy.

    Parameters
    ----------
    dy : ndarray, shape of x
    cache : DropoutCache

    Returns
    -------
    dx : ndarray, shape of x (dy itself in the identity case)
    """
    if cache.scaled_keep is None:
        # y = x
        return dy
    # y = x * scaled_keep
    return dy * cache.scaled_keep
