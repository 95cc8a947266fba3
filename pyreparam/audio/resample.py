"""Sample-rate conversion by polyphase filtering with the exact rational ratio."""
from __future__ import annotations

from functools import lru_cache
from math import gcd

import numpy as np
from scipy.signal import firwin, resample_poly


def resample_ratio(orig_rate: int, target_rate: int) -> tuple[int, int]:
    """The reduced integer ratio (up, down) with target / orig == up / down.

    Parameters
    ----------
    orig_rate, target_rate : int
        Sample rates in Hz, positive integers.

    Returns
    -------
    up, down : int
        Coprime factors, e.g. (320, 441) for 22 050 Hz -> 16 000 Hz.
    """
    for rate in (orig_rate, target_rate):
        if int(rate) != rate or rate <= 0:
            raise ValueError(f"sample rates must be positive integers, got {rate}")
    orig_rate, target_rate = int(orig_rate), int(target_rate)
    common = gcd(orig_rate, target_rate)
    return target_rate // common, orig_rate // common


@lru_cache(maxsize=32)
def lowpass_filter(up: int, down: int) -> np.ndarray:
    """scipy's default resample_poly filter for (up, down), designed once per ratio.

    ``firwin(2 * 10 * max(up, down) + 1, 1 / max(up, down), window=('kaiser', 5.0))``
    in float32, exactly what ``resample_poly`` designs on every call for float32
    input (designing it takes longer than filtering a 2 s utterance). Read-only.
    """
    half_len = 10 * max(up, down)
    taps = firwin(2 * half_len + 1, 1.0 / max(up, down), window=("kaiser", 5.0))
    taps = taps.astype(np.float32)  # (2 * half_len + 1,)
    taps.setflags(write=False)
    return taps


def resample(signal: np.ndarray, orig_rate: int, target_rate: int) -> np.ndarray:
    """Resample a mono signal from ``orig_rate`` to ``target_rate``.

    Parameters
    ----------
    signal : ndarray, (n,), float
        Mono samples.
    orig_rate, target_rate : int
        Sample rates in Hz.

    Returns
    -------
    ndarray, (ceil(n * up / down),), float32
        The resampled signal; the input itself (as float32) when the rates agree.

    Notes
    -----
    ``scipy.signal.resample_poly(x, up, down)`` with (up, down) from
    :func:`resample_ratio`: upsample by ``up`` (zero insertion), low-pass with a
    Kaiser-windowed sinc (beta 5, cut-off at the lower of the two Nyquist rates),
    keep every ``down``-th sample, computed in polyphase form; the filter is cached
    per ratio (:func:`lowpass_filter`). The time origin is
    kept: output sample j sits at time j / target_rate. Samples outside the
    signal are taken as zero, so a run of exact zeros far from the signal's
    support stays exactly zero (what trailing-silence trimming relies on).
    """
    signal = np.asarray(signal, dtype=np.float32)
    up, down = resample_ratio(orig_rate, target_rate)
    if up == down:
        return signal
    out = resample_poly(signal, up, down, window=lowpass_filter(up, down))  # (n_out,)
    return out.astype(np.float32, copy=False)
