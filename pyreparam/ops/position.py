r"""Sinusoidal positional encoding (Vaswani et al. 2017), added to the input frames.

The table is a constant: it has no parameters and nothing flows into it, so the
backward of y = x + pe[:T] is the identity, dx = dy. Equations:
reference/ops_conv_pool.md.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

__all__ = ["sinusoidal_table", "positional_encoding_forward",
           "positional_encoding_backward"]


@lru_cache(maxsize=32)
def _table(T: int, C: int, dtype: np.dtype) -> np.ndarray:
    t = np.arange(T, dtype=np.float64)[:, None]                     # (T, 1)
    c = np.arange(C)                                                # (C,)
    inv_freq = 10000.0 ** (-(2 * (c // 2)) / C)                     # (C,)
    angle = t * inv_freq                                            # (T, C)
    pe = np.where(c % 2 == 0, np.sin(angle), np.cos(angle))         # (T, C)
    pe = pe.astype(dtype)
    pe.setflags(write=False)                                        # shared by callers
    return pe


def sinusoidal_table(T: int, C: int, dtype=np.float32) -> np.ndarray:
    """The sinusoidal position table of Vaswani et al.

    Parameters
    ----------
    T : int
        Number of positions.
    C : int
        Width (may be odd: the last column is then a sine).
    dtype : numpy dtype
        Computed in float64, then rounded once to this dtype.

    Returns
    -------
    ndarray, (T, C), read-only (cached; copy it to modify)

    Notes
    -----
        pe[t, 2i]     = sin(t / 10000^(2i / C))
        pe[t, 2i + 1] = cos(t / 10000^(2i / C))
    """
    return _table(int(T), int(C), np.dtype(dtype))


class PositionalEncodingCache(NamedTuple):
    shape: tuple             # (B, T, C); the backward needs nothing else


def positional_encoding_forward(x: np.ndarray
                                ) -> tuple[np.ndarray, PositionalEncodingCache]:
    """Add the sinusoidal table to every sequence: y = x + pe[:T].

    Parameters
    ----------
    x : ndarray, (B, T, C), float32 or float64

    Returns
    -------
    y : ndarray, (B, T, C), x's dtype (the table is built in x's dtype)
    cache : PositionalEncodingCache

    Notes
    -----
    Forward y[b, t] = x[b, t] + pe[t]; the table is a constant, so the backward is
    dx = dy.
    """
    B, T, C = x.shape
    y = x + sinusoidal_table(T, C, x.dtype)                         # (B, T, C)
    return y, PositionalEncodingCache(x.shape)


def positional_encoding_backward(dy: np.ndarray,
                                 cache: PositionalEncodingCache) -> np.ndarray:
    """Backward of :func:`positional_encoding_forward`: dx = dy (pe is a constant).

    Parameters
    ----------
    dy : ndarray, (B, T, C)
    cache : PositionalEncodingCache

    Returns
    -------
    dx : ndarray, (B, T, C); dy itself (not a copy)
    """
    # y = x + pe[:T]
    return dy
