"""The pitch track in integers: the NumPy reference of the device's pitch channels.

:func:`pyreparam.audio.features.pitch_track` defines the two channels in float (log2 of
F0 / 100 Hz, interpolated across unvoiced frames, and the voicing strength); this
module computes them from int16 PCM with integer arithmetic only, as a device would,
and returns them as int16 Q8 (value * 256), the format of the integer front end's
log-mel (:mod:`pyreparam.quant.qfrontend`) that the causal normalization consumes. It
is the oracle of the C functions pr_pitch_decimate_s16, pr_pitch_frame_s32 and
pr_pitch_fill_s16 (bit-exact, tests/test_pitch_int.py), which the device's stream
chains on the samples as they arrive (pyreparam/quant/qstream.py, reference/stream.md
section 9).
Steps (``>>`` is an arithmetic shift, rounding is half away from zero unless said):

1. Decimation by d = sample_rate // 4000 with scipy.signal.resample_poly's own FIR
   (firwin(20 d + 1, 1 / d, kaiser 5)) in Q15 taps h: y[j] = (sum_k h[k] s[d j + 10 d -
   k] + 2^14) >> 15, samples outside the signal 0 (sum |h| < 2, so the sum fits int32).
2. Frame t: the w = round(0.040 rate) decimated samples from
   start = floor((2 t hop + win - w d + d) / (2 d)) (the window centred on log-mel
   frame t's centre; zeros outside), minus their mean rounded to an integer.
3. R[k] = sum_i z[i] z[i + k] in int64, for k = 0 and the lags lag_min - 1 ..
   lag_max + 1 (60 - 500 Hz). Silent window: R[0] < w (then voicing 0, unvoiced).
4. k = the first lag of lag_min .. lag_max with the largest R; with a = R[k-1],
   b = R[k], c = R[k+1] and a - 2 b + c < 0, shift = round(2^14 (a - c) / (a - 2 b + c))
   clipped to +-2^14 (else 0); period = 2^15 k + shift (Q15 lags).
5. voicing = round(256 R[k] / R[0]) clipped to 0 .. 256; voiced when >= 128.
6. octaves = round(256 (log2(rate / 100) - log2(period / 2^15))), the log2 by the
   integer front end's table (:func:`log2_q16`).
7. Unvoiced frames take octaves[a] + round((octaves[b] - octaves[a]) (t - a) / (b - a))
   between the voiced frames a < t < b, the nearest voiced frame's value at the ends,
   and 0 when no frame is voiced.
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np
import scipy.signal

from pyreparam.audio.features import (PITCH_FMAX, PITCH_FMIN, PITCH_RATE, PITCH_REF_HZ,
                                      PITCH_WIN_MS, FeatureConfig, num_frames)
from pyreparam.quant.fixedpoint import round_half_away
from pyreparam.quant import qfrontend
from pyreparam.quant.qfrontend import LOG2_FRAC, log2_table, pcm_input

TAP_BITS = 15          # the decimation filter's taps, Q15
OUT_FRAC = 8           # the channels' fraction bits (int16 Q8, as the log-mel)
VOICED_Q8 = 128        # voicing >= 0.5


class PitchTables(NamedTuple):
    """The constants of the integer pitch track at one sample rate."""

    factor: int              # decimation factor d
    rate: float              # sample_rate / d (Hz)
    width: int               # analysis window w, decimated samples
    lag_min: int             # lags of 500 .. 60 Hz
    lag_max: int
    taps: np.ndarray         # int64 (20 d + 1,) Q15 decimation filter
    log2_rate_q16: int       # round(2^16 log2(rate / 100 Hz))


@lru_cache(maxsize=8)
def pitch_tables(sample_rate: int) -> PitchTables:
    """The constants of the integer pitch track at ``sample_rate``."""
    factor = max(1, sample_rate // PITCH_RATE)
    rate = sample_rate / factor
    h = scipy.signal.firwin(20 * factor + 1, 1.0 / factor, window=("kaiser", 5.0)) \
        if factor > 1 else np.ones(1)
    taps = round_half_away(h * 2.0**TAP_BITS).astype(np.int64)
    taps.setflags(write=False)
    log2_rate = int(round_half_away(np.log2(rate / PITCH_REF_HZ) * 2.0**LOG2_FRAC))
    return PitchTables(factor, rate, int(round(rate * PITCH_WIN_MS / 1000.0)),
                       int(np.floor(rate / PITCH_FMAX)), int(np.ceil(rate / PITCH_FMIN)),
                       taps, log2_rate)


def decimate(s: np.ndarray, tables: PitchTables) -> np.ndarray:
    """Step 1: the int32 decimated samples y (ceil(n / d),) of int16 PCM s."""
    d, half = tables.factor, 10 * tables.factor
    padded = np.concatenate([np.zeros(half, np.int64), s.astype(np.int64),
                             np.zeros(half + d, np.int64)])
    return decimate_from(padded, -(-s.size // d), tables).astype(np.int32)


def decimate_from(x: np.ndarray, count: int, tables: PitchTables) -> np.ndarray:
    """int64 y[i] = (sum_k h[k] x[d i + 20 d - k] + 2^14) >> 15, i < count: the filter's
    outputs from samples x that begin 10 d samples before the first output's own
    (pr_pitch_decimate_s16 with j0 = 10; the stream keeps such a window of samples)."""
    d, h = tables.factor, tables.taps
    index = d * np.arange(count)[:, None] + (h.size - 1) - np.arange(h.size)[None, :]
    acc = np.asarray(x, dtype=np.int64)[index] @ h if count else np.zeros(0, np.int64)
    return (acc + (1 << (TAP_BITS - 1))) >> TAP_BITS


def frame_windows(y: np.ndarray, n_frames: int, config: FeatureConfig,
                  tables: PitchTables, mean_free: bool = True) -> np.ndarray:
    """Step 2: int64 (T, w) windows, each minus its rounded mean (``mean_free``; the
    C step takes them with their mean and removes it itself)."""
    w = tables.width
    starts = window_start(np.arange(n_frames, dtype=np.int64), tables, config.win_length,
                          config.hop_length)
    lead = int(max(0, -starts.min(initial=0)))
    tail = int(max(0, starts.max(initial=0) + w - y.size))
    padded = np.concatenate([np.zeros(lead, np.int64), y.astype(np.int64),
                             np.zeros(tail, np.int64)])
    frames = padded[(starts + lead)[:, None] + np.arange(w)[None, :]]  # (T, w)
    return remove_mean(frames) if mean_free else frames


def window_start(t, tables: PitchTables, win_length: int, hop_length: int):
    """The first decimated sample of frame t's window (step 2): the w samples centred on
    the log-mel frame's centre, floor((2 t hop + win - w d + d) / (2 d))."""
    d = tables.factor
    return (2 * t * hop_length + win_length - tables.width * d + d) // (2 * d)


def remove_mean(windows: np.ndarray) -> np.ndarray:
    """int64 windows (T, w) minus their means rounded to integers (floor((2 sum + w) /
    (2 w))), as pr_pitch_frame_s32 removes them."""
    windows = np.asarray(windows, dtype=np.int64)
    w = windows.shape[1]
    return windows - (2 * windows.sum(axis=1, keepdims=True) + w) // (2 * w)


def log2_q16(v: np.ndarray) -> np.ndarray:
    """2^16 log2 v of positive integers by the integer front end's table
    (:func:`pyreparam.quant.qfrontend.log2_q16`), int64."""
    return qfrontend.log2_q16(np.asarray(v, dtype=np.int64).astype(np.uint64), log2_table())


def _div_round(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """round(num / den) half away from zero, den > 0, integers."""
    q = (2 * np.abs(num) + den) // (2 * den)
    return np.where(num < 0, -q, q)


def frame_pitch(z: np.ndarray, tables: PitchTables) -> tuple[np.ndarray, np.ndarray]:
    """Steps 3-6: int64 octaves Q8 and voicing Q8 (T,) of mean-free windows z (T, w)."""
    lo, hi, w = tables.lag_min, tables.lag_max, tables.width
    lags = np.arange(lo - 1, hi + 2)
    R = np.stack([(z[:, :w - k] * z[:, k:]).sum(axis=1) for k in lags], axis=1)
    R0 = (z * z).sum(axis=1)
    rows = np.arange(z.shape[0])
    k = np.argmax(R[:, 1:-1], axis=1) + 1                      # index into lags
    a, b, c = R[rows, k - 1], R[rows, k], R[rows, k + 1]
    curve = a - 2 * b + c
    safe = np.where(curve < 0, -curve, 1)
    shift = np.where(curve < 0, -_div_round((a - c) << 14, safe), 0)
    shift = np.clip(shift, -(1 << 14), 1 << 14)
    period = (lags[k].astype(np.int64) << TAP_BITS) + shift
    silent = R0 < w
    voicing = np.where(silent | (b <= 0), 0,
                       np.minimum(_div_round(b << OUT_FRAC, np.maximum(R0, 1)), 256))
    log_period = log2_q16(period) - (TAP_BITS << LOG2_FRAC)
    shift_out = LOG2_FRAC - OUT_FRAC
    octaves = (tables.log2_rate_q16 - log_period + (1 << (shift_out - 1))) >> shift_out
    return octaves, voicing


def fill_unvoiced(octaves: np.ndarray, voicing: np.ndarray) -> np.ndarray:
    """Step 7: octaves of the unvoiced frames from the voiced ones around them."""
    voiced = np.flatnonzero(voicing >= VOICED_Q8)
    if voiced.size == 0:
        return np.zeros_like(octaves)
    t = np.arange(octaves.size)
    right = np.clip(np.searchsorted(voiced, t), 0, voiced.size - 1)    # first voiced >= t
    left = np.clip(right - (voiced[right] > t), 0, voiced.size - 1)      # last voiced <= t
    a, b = voiced[left], voiced[right]
    va, vb = octaves[a], octaves[b]
    span = np.maximum(b - a, 1)
    out = va + _div_round((vb - va) * (t - a), span)
    out = np.where(t <= voiced[0], octaves[voiced[0]], out)
    return np.where(t >= voiced[-1], octaves[voiced[-1]], out)


def pitch_q8(signal: np.ndarray, config: FeatureConfig = FeatureConfig(pitch=True),
             trim_trailing_silence: bool | None = None,
             use_c: bool | None = None) -> np.ndarray:
    """The integer pitch channels of a mono int16 PCM signal.

    ``use_c``: decimate, analyse and fill with the C runtime (pr_pitch_decimate_s16,
    pr_pitch_frame_s32, pr_pitch_fill_s16) instead of this NumPy reference, bit for bit
    the same; default: C when the extension is built.

    Returns
    -------
    ndarray, (T, 2), int16
        Q8 log2(F0 / 100 Hz) (interpolated across unvoiced frames) and voicing; T as
        the log-mel frames of the same signal.
    """
    s, use_c = pcm_input(signal, config, trim_trailing_silence, use_c, "pitch_q8")
    tables = pitch_tables(config.sample_rate)
    n_frames = num_frames(s.size, config)
    if use_c:
        from pyreparam.quant import ckernels
        y = ckernels.pitch_decimate_s16(s, tables)
        windows = frame_windows(y, n_frames, config, tables, mean_free=False)
        return ckernels.pitch_fill_s16(ckernels.pitch_frames_s32(
            windows.astype(np.int32), tables))
    z = frame_windows(decimate(s, tables), n_frames, config, tables)
    octaves, voicing = frame_pitch(z, tables)
    octaves = fill_unvoiced(octaves, voicing)
    return np.stack([octaves, voicing], axis=1).astype(np.int16)


def pitch_int(signal: np.ndarray, config: FeatureConfig = FeatureConfig(pitch=True)
              ) -> np.ndarray:
    """Drop-in for :func:`pyreparam.audio.features.pitch_track` computed by the integer
    pitch track: float samples (x = s / 32768) -> float32 (T, 2) = q / 256."""
    from pyreparam.quant.qfrontend import pcm16
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"pitch_int expects a mono signal (n,), got shape {x.shape}")
    return (pitch_q8(pcm16(x), config).astype(np.float32) / np.float32(2**OUT_FRAC))
