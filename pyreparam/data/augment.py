"""Data augmentation; every random choice comes from an explicit numpy Generator.

* :func:`spec_augment`: SpecAugment-style time and frequency masks on one (T, M)
  utterance (Park et al., Interspeech 2019, without time warping).
* Waveform level, all off unless asked for: :func:`change_speed`, :func:`apply_gain`,
  :func:`add_noise`, and :func:`augment_waveform` which draws and combines them.
"""
from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
from scipy.signal import resample_poly


def _draw_masks(rng: np.random.Generator, size: int, n_masks: int,
                max_width: int) -> list[tuple[int, int]]:
    """Draw ``n_masks`` intervals [start, stop) inside [0, size).

    Width w ~ uniform{0..min(max_width, size)}, start ~ uniform{0..size - w}.
    """
    masks = []
    for _ in range(n_masks):
        width = int(rng.integers(0, min(max_width, size) + 1))
        start = int(rng.integers(0, size - width + 1))
        masks.append((start, start + width))
    return masks


def spec_augment(x: np.ndarray, rng: np.random.Generator, *, n_time_masks: int = 2,
                 max_time: int = 20, n_freq_masks: int = 2,
                 max_freq: int = 8) -> np.ndarray:
    """Mask random time and frequency stripes of one utterance.

    Parameters
    ----------
    x : ndarray, (T, M), float
        One utterance's features (normalized or not).
    rng : numpy.random.Generator
        The only source of randomness.
    n_time_masks, max_time : int
        Number of time masks and their maximum width in frames (each width is
        uniform in 0..min(max_time, T)).
    n_freq_masks, max_freq : int
        Number of frequency masks and their maximum width in mel bands.

    Returns
    -------
    ndarray, (T, M), same dtype
        A new array; ``x`` is not modified.

    Notes
    -----
    Masked cells are filled with the utterance mean, the scalar mean of ``x`` over
    all frames and bands before masking: a mask then removes information without
    adding an out-of-range value (after normalization the mean is about 0, the
    usual SpecAugment fill). Masks may overlap. Draw order: time masks, then
    frequency masks, each width before its start.
    """
    T, M = x.shape
    fill = x.mean(dtype=np.float64).astype(x.dtype)
    y = x.copy()  # (T, M)
    for start, stop in _draw_masks(rng, T, n_time_masks, max_time):
        y[start:stop, :] = fill
    for start, stop in _draw_masks(rng, M, n_freq_masks, max_freq):
        y[:, start:stop] = fill
    return y


def change_speed(signal: np.ndarray, factor: float, *, max_denominator: int = 100
                 ) -> np.ndarray:
    """Play a signal ``factor`` times faster (pitch and tempo change together).

    Parameters
    ----------
    signal : ndarray, (n,), float
    factor : float
        Speed ratio, e.g. 0.9 or 1.1; approximated by the nearest fraction p / q
        with q <= ``max_denominator``.

    Returns
    -------
    ndarray, (ceil(n * q / p),), same dtype
        ``resample_poly(signal, up=q, down=p)``, read back at the original rate.
    """
    if factor <= 0:
        raise ValueError(f"speed factor must be positive, got {factor}")
    ratio = Fraction(factor).limit_denominator(max_denominator)
    if ratio == 1:
        return signal.copy()
    out = resample_poly(signal, ratio.denominator, ratio.numerator)  # (n / factor,)
    return out.astype(signal.dtype, copy=False)


def apply_gain(signal: np.ndarray, gain_db: float) -> np.ndarray:
    """Scale a signal by ``10 ** (gain_db / 20)``; same dtype."""
    return signal * np.asarray(10.0 ** (gain_db / 20.0), dtype=signal.dtype)


def add_noise(signal: np.ndarray, rng: np.random.Generator, snr_db: float) -> np.ndarray:
    """Add white Gaussian noise at a given signal-to-noise ratio.

    Parameters
    ----------
    signal : ndarray, (n,), float
    rng : numpy.random.Generator
    snr_db : float
        10 log10(mean(signal^2) / noise variance).

    Returns
    -------
    ndarray, (n,), same dtype
        ``signal + sigma * N(0, 1)``; an all-zero signal is returned unchanged.
    """
    power = float(np.mean(np.square(signal, dtype=np.float64)))
    if power == 0.0:
        return signal.copy()
    sigma = np.sqrt(power / 10.0 ** (snr_db / 10.0))
    noise = rng.standard_normal(signal.shape[0]) * sigma  # (n,)
    return (signal + noise).astype(signal.dtype)


def augment_waveform(signal: np.ndarray, rng: np.random.Generator, *,
                     speeds: Sequence[float] = (), max_gain_db: float = 0.0,
                     snr_db_range: tuple[float, float] | None = None) -> np.ndarray:
    """Random speed, gain and noise; the defaults change nothing.

    Parameters
    ----------
    signal : ndarray, (n,), float
    rng : numpy.random.Generator
    speeds : sequence of float
        Speed factors to choose from uniformly (e.g. (0.9, 1.0, 1.1)); () = off.
    max_gain_db : float
        Gain drawn uniformly in [-max_gain_db, max_gain_db]; 0 = off.
    snr_db_range : (low, high) or None
        SNR drawn uniformly in [low, high] for :func:`add_noise`; None = off.

    Returns
    -------
    ndarray, (n',), same dtype
        n' differs from n only when the speed changes.
    """
    out = signal
    if len(speeds):
        out = change_speed(out, float(rng.choice(np.asarray(speeds, dtype=np.float64))))
    if max_gain_db > 0:
        out = apply_gain(out, float(rng.uniform(-max_gain_db, max_gain_db)))
    if snr_db_range is not None:
        out = add_noise(out, rng, float(rng.uniform(*snr_db_range)))
    return out if out is not signal else signal.copy()
