r"""NumPy integer reference of the statistics head's utterance functionals.

The integer twin of :func:`pyreparam.audio.functionals.utterance_functionals`, the
first piece of the head's device path (reference/stats_head.md, section 5): the
oracle a C kernel will match bit for bit. Every step is integer arithmetic in int64;
``rdiv`` is division rounded half away from zero
(:func:`~pyreparam.quant.fixedpoint.divide_round_half_away`), ``rdbp`` the rounding
shift of :mod:`pyreparam.quant.fixedpoint`, ``isqrt`` the integer square root
(floor).

Units and limits
----------------
Input: log-mel frames X (T, C) int16 in Q8 (x_q = round(x 2^8), as
:func:`pyreparam.quant.qcausal.quantize_features`), 1 <= T <= 2^14, C <= 1024, the
first M <= 64 channels mel bands. Output: D int32 values in Q16 (2^16 per
natural-log unit, saturated to int32), in the order of the float functionals. Within
these limits no intermediate leaves int64, whatever the basis (C: pr_functionals_s16).

Cepstra
-------
B (L, M) int16 = round(2^14 DCT-II orthonormal basis) (:func:`dct_basis_q14`; any
int16 table is accepted), c = rdbp(X[:, :M] B^T, 14) (Q8, |c| <= 2^22).

Statistics of a column v (n values, Q8)
----------------------------------------
    mean     = rdiv(2^8 sum v, n)
    var      = max(0, rdiv(sum v^2, n) - rdbp(mean^2, 16))                (Q16)
    std      = isqrt(2^16 var)
    p_q      = with s = sorted v, P = q (n - 1) (q in percent), i = P div 100,
               f = P mod 100:  rdiv(2^8 (100 s[i] + f (s[i+1] - s[i])), 100)
               (s[i] alone when f = 0): NumPy's linear interpolation, exact
    slope    = rdiv(2^9 sum u_t v_t, sum u_t^2),  u_t = 2 t - (n - 1)   (0 when n = 1)
    change   = d_t = v_{t+1} - v_t (n - 1 values; none when n = 1: both statistics 0):
               std as above over d, mean |d| = rdiv(2^8 sum |d|, n - 1)

Speech frames: level_t = sum over the M bands of X[t] (no division); keep the frames
with level_t >= max level - M round(2^8 ln 100); all when fewer than 3 qualify.

Prosody block (``pitch``; channels M and M + 1 log2 F0 and voicing, Q8): of the speech
frames, those with voicing >= VOICED_Q8 = 128 (0.5), in time order (all speech frames
when fewer than 3), the pitch channel's mean, std, p10, p50, p90 and change std as
above, and the voiced share rdiv(2^16 n_voiced, n_speech) (Q16). C: pr_prosody_s16.
The float rule's threshold is voicing >= 0.5 on unrounded values, so a frame whose
voicing rounds up to 128 may count here and not there.

Agreement with the float functionals of X / 2^8: the statistics are exact up to their
final rounding (2^-16) except through the cepstra, whose basis is rounded to 2^-14 and
whose values to 2^-8; the speech threshold is 1179 / 2^8 = 4.6055 instead of ln 100 =
4.6052, so a frame within 3e-4 of it may fall on the other side.
"""
from __future__ import annotations

import math

import numpy as np

from pyreparam.audio.features import PITCH_VOICED
from pyreparam.audio.functionals import (CEPSTRA, MIN_SPEECH_FRAMES, PITCH_STATS, SPEECH_RANGE,
                                         check_pitch)
from pyreparam.quant.fixedpoint import divide_round_half_away as rdiv
from pyreparam.quant.fixedpoint import rdbp, round_half_away

DCT_FRAC_BITS = 14
OUT_FRAC_BITS = 16
MAX_FRAMES = 1 << 14
MAX_CHANNELS = 1024
MAX_BANDS = 64
#: the speech range in Q8 (per band; the threshold is M times this on the band sum)
SPEECH_RANGE_Q8 = int(round_half_away(SPEECH_RANGE * 2**8))
#: the prosody block's voicing threshold in Q8
VOICED_Q8 = int(round_half_away(PITCH_VOICED * 2**8))


def count(channels: int, cepstra: int, pitch: bool = False) -> int:
    """D of frames with ``channels`` channels and ``cepstra`` cepstral coefficients
    (pr_functionals_count, + PR_PROSODY_COUNT with the prosody block)."""
    return 2 * (6 * channels + 12 * cepstra) + (len(PITCH_STATS) if pitch else 0)


def dct_basis_q14(n_mels: int) -> np.ndarray:
    """B (L, M) int16: the orthonormal DCT-II basis in Q14, L = min(CEPSTRA, M)."""
    k = np.arange(min(CEPSTRA, n_mels))[:, None]
    m = np.arange(n_mels)[None, :]
    basis = np.sqrt(2.0 / n_mels) * np.cos(np.pi * k * (2 * m + 1) / (2 * n_mels))
    basis[0] /= np.sqrt(2.0)
    return round_half_away(basis * 2**DCT_FRAC_BITS).astype(np.int16)


def _sqrt_q16(var: np.ndarray) -> np.ndarray:
    """isqrt(2^16 var) (var < 2^48: the product needs 64 unsigned bits)."""
    return np.array([math.isqrt(int(a) << 16) for a in var.ravel()],
                    dtype=np.int64).reshape(var.shape)


def _mean_std(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std (Q16) of the columns of v (n, K) Q8."""
    n = v.shape[0]
    mean = rdiv(v.sum(axis=0) << 8, n)
    var = np.maximum(rdiv((v * v).sum(axis=0), n) - rdbp(mean * mean, 16), 0)
    return mean, _sqrt_q16(var)


def _percentiles(v: np.ndarray, qs: tuple[int, ...]) -> list[np.ndarray]:
    s = np.sort(v, axis=0)
    n = v.shape[0]
    out = []
    for q in qs:
        i, f = divmod(q * (n - 1), 100)
        upper = s[min(i + 1, n - 1)]
        out.append(rdiv((100 * s[i] + f * (upper - s[i])) << 8, 100))
    return out


def _change(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Std and mean |.| (Q16) of the frame-to-frame change of the columns of v."""
    if v.shape[0] < 2:
        zero = np.zeros(v.shape[1], dtype=np.int64)
        return zero, zero
    d = v[1:] - v[:-1]
    return _mean_std(d)[1], rdiv(np.abs(d).sum(axis=0) << 8, d.shape[0])


def _slope(v: np.ndarray) -> np.ndarray:
    n = v.shape[0]
    if n < 2:
        return np.zeros(v.shape[1], dtype=np.int64)
    u = 2 * np.arange(n, dtype=np.int64) - (n - 1)
    return rdiv((u @ v) << 9, int(u @ u))


def frame_functionals_q(X: np.ndarray, M: int, basis: np.ndarray) -> np.ndarray:
    """The 6 C + 12 L functionals (Q16 int64, unsaturated) of frames X (T, C) int Q8."""
    X = np.asarray(X, dtype=np.int64)
    c = rdbp(X[:, :M] @ np.asarray(basis, dtype=np.int64).T, DCT_FRAC_BITS)   # (T, L) Q8
    mean, std = _mean_std(X)
    p10, p50, p90 = _percentiles(X, (10, 50, 90))
    channel = [mean, std, p10, p50, p90, _change(X)[0]]
    cmean, cstd = _mean_std(c)
    q1, q25, q50, q75, q99 = _percentiles(c, (1, 25, 50, 75, 99))
    change_std, change_abs = _change(c)
    cepstrum = [cmean, cstd, q1, q25, q50, q75, q99, q75 - q25, q99 - q1, _slope(c),
                change_std, change_abs]
    return np.concatenate(channel + cepstrum)


def speech_frames_q(X: np.ndarray, M: int) -> np.ndarray:
    """The frames of X within the speech range of the loudest (all when too few)."""
    level = np.asarray(X, dtype=np.int64)[:, :M].sum(axis=1)                  # (T,)
    keep = level >= level.max() - M * SPEECH_RANGE_Q8
    return X[keep] if keep.sum() >= MIN_SPEECH_FRAMES else X


def prosody_functionals_q(X: np.ndarray, M: int) -> np.ndarray:
    """The prosody block (Q16 int64, (7,)) of X (T, C) int Q8, C >= M + 2."""
    S = np.asarray(speech_frames_q(X, M), dtype=np.int64)
    voiced = S[:, M + 1] >= VOICED_Q8
    n_voiced = int(voiced.sum())
    v = (S[voiced, M] if n_voiced >= MIN_SPEECH_FRAMES else S[:, M])[:, None]   # (n, 1)
    mean, std = _mean_std(v)
    p10, p50, p90 = _percentiles(v, (10, 50, 90))
    share = rdiv(np.array([n_voiced << 16]), S.shape[0])
    return np.concatenate([mean, std, p10, p50, p90, _change(v)[0], share])


def utterance_functionals_q(X: np.ndarray, n_mels: int | None = None,
                            basis: np.ndarray | None = None, pitch: bool = False
                            ) -> np.ndarray:
    """All functionals (Q16 int32, (D,)) of an utterance X (T, C) int16 Q8; ``basis``
    (L, M) int16, default :func:`dct_basis_q14`; ``pitch``: with the prosody block."""
    X = np.asarray(X)
    if X.ndim != 2 or X.shape[0] < 1 or X.dtype != np.int16:
        raise ValueError(f"expected int16 frames (T >= 1, C), got {X.dtype} {X.shape}")
    M = X.shape[1] if n_mels is None else int(n_mels)
    if not 1 <= M <= min(X.shape[1], MAX_BANDS) or X.shape[0] > MAX_FRAMES \
            or X.shape[1] > MAX_CHANNELS:
        raise ValueError(f"need 1 <= n_mels <= min(channels, {MAX_BANDS}), frames <= "
                         f"{MAX_FRAMES}, channels <= {MAX_CHANNELS}: got n_mels {M}, "
                         f"frames {X.shape[0]}, channels {X.shape[1]}")
    B = dct_basis_q14(M) if basis is None else np.asarray(basis)
    if B.ndim != 2 or B.shape[1] != M or not 1 <= B.shape[0] <= M or B.dtype != np.int16:
        raise ValueError(f"the basis must be int16 (L, {M}), 1 <= L <= {M}")
    check_pitch(X.shape[1], M, pitch)
    parts = [frame_functionals_q(X, M, B), frame_functionals_q(speech_frames_q(X, M), M, B)]
    if pitch:
        parts.append(prosody_functionals_q(X, M))
    out = np.concatenate(parts)
    return np.clip(out, -2**31, 2**31 - 1).astype(np.int32)
