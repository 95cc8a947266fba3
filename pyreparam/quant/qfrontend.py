r"""NumPy integer reference of the log-mel front end (int16 PCM in, int16 Q8 log-mel out).

Oracle of ``csrc/pr_logmel_frame_s16.c``; they must agree bit for bit. It is the
integer twin of :func:`pyreparam.audio.features.logmel` (same frames, periodic window,
zero padding to n_fft, power spectrum without 1/n scaling, HTK triangles, natural log
of mel power + log_floor in the float's units, samples x = s / 32768), and its output
is what :func:`pyreparam.quant.qcausal.quantize_features` makes of the float features:
``q ~= round(256 ln(mel + 1e-6))``. reference/frontend_int.md writes it out with the
error bounds; it lives in ``quant`` beside qcausal (the integer rule that consumes
its output), as every NumPy oracle of a C kernel does.

One frame (s: win int16 samples; N = n_fft / 2 complex points, a power of 4)
------------------------------------------------------------------------------
    y[n]  = (s[n] w[n] + 2^15) >> 16                  w: window in Q31 (|y| <= 2^30)
    L1    = sum |y[n]|,  r = max(0, bitlen(L1) - 27)  block exponent (per frame)
    y'[n] = (y[n] + 2^(r-1)) >> r  (r > 0)            so that sum |y'| < 2^27 + win / 2
    z[n]  = y'[2n] + i y'[2n+1], n < N                (zero padding to n_fft)
    Z     = FFT_N(z): radix-4 decimation in frequency, log4 N stages, no scaling;
            each twiddle product is rounded: rot(u, c, s) = ((u_r c + u_i s + 2^30) >> 31,
            (u_i c - u_r s + 2^30) >> 31) for W = (c - i s) / 2^31 (Q31); the
            butterflies with j = 0 take no product. Output in base-4 digit-reversed order.
    A = Z[k] + conj Z[N-k],  B = Z[k] - conj Z[N-k],  C = rot(B, W_2N^k)   k = 0 .. N/2
    P[k]   = (A_r + C_i)^2 + (A_i - C_r)^2            = |2 X[k]|^2       (int64 < 2^63)
    P[N-k] = (A_r - C_i)^2 + (A_i + C_r)^2            = |2 X[N-k]|^2
    mel[m] = floor(sum_k wm[m, k] P[k] / 2^20)        wm: mel weights in Q20; the sum is
             exact: (sum (P >> 32) wm) 2^12 + (sum (P mod 2^32) wm) >> 20   (uint64)
    v      = max(1, mel + F_r),  F_r = round(F_0 / 4^r),  F_0 = round(log_floor 2^62)
    L      = log2(v) in Q16 (bit length, 128-entry table, linear interpolation)
             - (62 - 2r) 2^16                         (sat32)
    out    = sat16((L round(ln2 2^31) + 2^38) >> 39)  Q8 natural log

Scaling: y' ~ x w 2^(30 - r), so P ~ 2^(62 - 2r) |X_float|^2 and
out ~ 256 ln(mel_float + log_floor). All shifts of negative numbers are arithmetic
(floor). The arithmetic cannot overflow int32 / int64 for *any* table contents (the
twiddles' modulus is at most sqrt(2) as int32 pairs; the L1 bound of 2^27 leaves room
for that), and the uint64 mel sums wrap only for filterbanks the builder refuses.
"""
from __future__ import annotations

import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from pyreparam.audio.features import (FeatureConfig, _window, frame_signal,
                                      mel_filterbank, trim_trailing_zeros)
from pyreparam.quant.fixedpoint import round_half_away

WINDOW_BITS = 31          # window in Q31
TWIDDLE_BITS = 31         # twiddles in Q31
WEIGHT_BITS = 20          # mel weights in Q20
L1_BITS = 27              # block exponent: sum |y'| < 2^27 (+ win / 2)
FLOOR_BITS = 62           # F_0 = round(log_floor 2^62)
LOG2_BITS = 7             # log2 table: 2^7 intervals of [1, 2)
LOG2_FRAC = 16            # log2 in Q16
OUT_FRAC = 8              # output in Q8 (qcausal.FEATURE_FRAC_BITS)
LN2_Q31 = 1488522236      # round(ln 2 2^31)
MIN_FFT, MAX_FFT = 32, 512
MAX_BANDS = 1024
MAX_BAND_WEIGHT = 128 << WEIGHT_BITS   # sum of one band's weights (keeps mel < 2^64)


class FrontendTables(NamedTuple):
    """Constant tables of the integer front end for one FeatureConfig (pr_logmel_params).

    Shapes use N = n_fft / 2 (complex FFT points) and M = n_mels.
    """
    win_length: int
    n_fft: int
    n_mels: int
    window: np.ndarray         # (win,) int32, Q31
    fft_twiddles: np.ndarray   # (N/4, 6) int32: cos, sin of 2 pi j q / N, q = 1, 2, 3, Q31
    rfft_twiddles: np.ndarray  # (N/2 + 1, 2) int32: cos, sin of pi k / N, Q31
    fft_order: np.ndarray      # (N,) uint16: position of Z[k] in the FFT's output
    mel_first: np.ndarray      # (M,) uint16: first bin of band m
    mel_count: np.ndarray      # (M,) uint16: bins of band m (0: an empty band)
    mel_weights: np.ndarray    # (sum count,) int32, Q20, band after band
    log2_table: np.ndarray     # (2^7 + 1,) int32: round(2^16 log2(1 + i / 128))
    floor_q62: int             # round(log_floor 2^62), 1 .. 2^63 - 1


# ==== offline table builders ==========================================================

def _q31(v) -> np.ndarray:
    return np.clip(round_half_away(np.asarray(v, dtype=np.float64) * 2.0**TWIDDLE_BITS),
                   -(2**31), 2**31 - 1).astype(np.int32)


def window_table(config: FeatureConfig) -> np.ndarray:
    """The float front end's window in Q31 (int32; 1.0 saturates to 2^31 - 1)."""
    return _q31(_window(config.window, config.win_length))  # (win,)


def fft_twiddle_table(N: int) -> np.ndarray:
    """(N/4, 6) int32: row j = cos, sin of 2 pi j / N, 4 pi j / N, 6 pi j / N in Q31
    (W_N^(q j) = cos - i sin, the twiddles of butterfly j of the first stage; stage t
    uses row j 4^t)."""
    j = np.arange(N // 4)[:, None] * np.arange(1, 4)[None, :]  # (N/4, 3)
    angle = 2.0 * np.pi * j / N
    return np.stack([_q31(np.cos(angle)), _q31(np.sin(angle))], axis=2).reshape(N // 4, 6)


def rfft_twiddle_table(N: int) -> np.ndarray:
    """(N/2 + 1, 2) int32: cos, sin of pi k / N in Q31 (W_2N^k of the real split)."""
    angle = np.pi * np.arange(N // 2 + 1) / N
    return np.stack([_q31(np.cos(angle)), _q31(np.sin(angle))], axis=1)


def digit_reverse_table(N: int) -> np.ndarray:
    """(N,) uint16: base-4 digit reversal of k (where DIF radix-4 leaves Z[k])."""
    digits = int(round(math.log(N, 4)))
    k = np.arange(N)
    rev = np.zeros(N, dtype=np.int64)
    for d in range(digits):
        rev = rev * 4 + (k >> (2 * d)) % 4
    return rev.astype(np.uint16)


def mel_tables(config: FeatureConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sparse Q20 filterbank: (first, count, weights) from the float front end's
    :func:`~pyreparam.audio.features.mel_filterbank`; each band keeps the bins from its
    first to its last nonzero Q20 weight."""
    wq = round_half_away(mel_filterbank(config).astype(np.float64) * 2.0**WEIGHT_BITS)
    wq = wq.astype(np.int64)  # (M, N + 1), 0 .. 2^20
    first = np.zeros(config.n_mels, dtype=np.uint16)
    count = np.zeros(config.n_mels, dtype=np.uint16)
    weights = []
    for m, row in enumerate(wq):
        nz = np.flatnonzero(row)
        if nz.size:
            first[m], count[m] = nz[0], nz[-1] - nz[0] + 1
            weights.append(row[nz[0]:nz[-1] + 1])
        if row.sum() > MAX_BAND_WEIGHT:
            raise ValueError(f"mel band {m} sums {row.sum() / 2**WEIGHT_BITS:.1f} > 128 "
                             "in weights: the integer front end refuses it")
    flat = np.concatenate(weights) if weights else np.zeros(0, dtype=np.int64)
    return first, count, flat.astype(np.int32)


def log2_table() -> np.ndarray:
    """(2^7 + 1,) int32: round(2^16 log2(1 + i / 2^7)), i = 0 .. 2^7."""
    i = np.arange((1 << LOG2_BITS) + 1)
    return round_half_away(np.log2(1.0 + i / 2.0**LOG2_BITS) * 2.0**LOG2_FRAC).astype(np.int32)


def check_config(config: FeatureConfig) -> None:
    """Raise ValueError when the integer front end cannot run this FeatureConfig."""
    n_fft, N = config.n_fft, config.n_fft // 2
    if not (MIN_FFT <= n_fft <= MAX_FFT and N & (N - 1) == 0 and (N.bit_length() - 1) % 2 == 0):
        raise ValueError(f"the integer front end needs n_fft = 2 * 4^j in [{MIN_FFT}, "
                         f"{MAX_FFT}] (32, 128 or 512), got {n_fft}")
    if config.n_mels > MAX_BANDS:
        raise ValueError(f"n_mels {config.n_mels} > {MAX_BANDS}")
    if not 2.0**-FLOOR_BITS <= config.log_floor < 2.0:
        raise ValueError(f"log_floor {config.log_floor} outside [2^-62, 2)")


def frontend_tables(config: FeatureConfig = FeatureConfig()) -> FrontendTables:
    """All constant tables for ``config`` (cached; treat the arrays as read-only)."""
    return _frontend_tables(config.to_json())


@lru_cache(maxsize=8)
def _frontend_tables(config_json: str) -> FrontendTables:
    import json
    config = FeatureConfig.from_dict(json.loads(config_json))
    check_config(config)
    N = config.n_fft // 2
    first, count, weights = mel_tables(config)
    tables = FrontendTables(
        config.win_length, config.n_fft, config.n_mels, window_table(config),
        fft_twiddle_table(N), rfft_twiddle_table(N), digit_reverse_table(N), first, count,
        weights, log2_table(), int(round_half_away(config.log_floor * 2.0**FLOOR_BITS)))
    for a in tables:
        if isinstance(a, np.ndarray):
            a.setflags(write=False)
    return tables


# ==== the frame pipeline (vectorized over frames) =====================================

def bit_length(v) -> np.ndarray:
    """Significant bits of each uint64 (0 for 0), by the C code's binary search."""
    v = np.asarray(v, dtype=np.uint64).copy()
    n = np.zeros(v.shape, dtype=np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = (v >> np.uint64(step)) != 0
        v = np.where(big, v >> np.uint64(step), v)
        n += np.where(big, step, 0)
    return n + v.astype(np.int64)


def window_frames(frames, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Windowed, block-scaled, zero-padded frames.

    Returns
    -------
    y : ndarray, (T, n_fft), int64 holding int32
        y'[n] of the module doc (0 beyond the window).
    r : ndarray, (T,), int64
        Block exponents (the frame was divided by 2^r).
    """
    s = np.asarray(frames)
    if s.dtype != np.int16 or s.ndim != 2 or s.shape[1] != tables.win_length:
        raise ValueError(f"frames must be int16 (T, {tables.win_length}), got "
                         f"{s.dtype} {s.shape}")
    y = (s.astype(np.int64) * tables.window.astype(np.int64) + (1 << 15)) >> 16  # (T, win)
    L1 = np.abs(y).sum(axis=1)  # (T,)
    r = np.maximum(bit_length(L1.astype(np.uint64)) - L1_BITS, 0)  # (T,)
    half = (np.int64(1) << r) >> 1  # (T,) 2^(r-1), or 0 when r = 0
    y = (y + half[:, None]) >> r[:, None]  # (T, win)
    out = np.zeros((s.shape[0], tables.n_fft), dtype=np.int64)
    out[:, :tables.win_length] = y
    return out, r


def _rot(ur, ui, c, s) -> tuple[np.ndarray, np.ndarray]:
    """u (c - i s) / 2^31, each component rounded half up."""
    half = np.int64(1) << (TWIDDLE_BITS - 1)
    return (ur * c + ui * s + half) >> TWIDDLE_BITS, (ui * c - ur * s + half) >> TWIDDLE_BITS


def fft_radix4(re, im, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Radix-4 decimation-in-frequency FFT of (T, N) int64 complex data (re, im).

    Output in base-4 digit-reversed order (Z[k] at ``tables.fft_order[k]``). Stage by
    stage, for every group of ``length`` points and j < q = length / 4 (a_p at
    j + p q in the group):
        b0 = a0 + a2, b1 = a0 - a2, b2 = a1 + a3, b3 = a1 - a3
        y0 = b0 + b2, y1 = rot(b1 - i b3, W^j), y2 = rot(b0 - b2, W^2j),
        y3 = rot(b1 + i b3, W^3j)          (W = W_length; no product when j = 0)
    stored back at the slots of a0 .. a3.
    """
    T, N = re.shape
    tw = tables.fft_twiddles.astype(np.int64)  # (N/4, 6)
    length, stride = N, 1
    while length >= 4:
        q = length // 4
        shape = (T, N // length, 4, q)
        xr, xi = re.reshape(shape), im.reshape(shape)  # (T, groups, 4, q)
        b0r, b0i = xr[:, :, 0] + xr[:, :, 2], xi[:, :, 0] + xi[:, :, 2]
        b1r, b1i = xr[:, :, 0] - xr[:, :, 2], xi[:, :, 0] - xi[:, :, 2]
        b2r, b2i = xr[:, :, 1] + xr[:, :, 3], xi[:, :, 1] + xi[:, :, 3]
        b3r, b3i = xr[:, :, 1] - xr[:, :, 3], xi[:, :, 1] - xi[:, :, 3]
        yr = np.stack([b0r + b2r, b1r + b3i, b0r - b2r, b1r - b3i], axis=2)
        yi = np.stack([b0i + b2i, b1i - b3r, b0i - b2i, b1i + b3r], axis=2)
        w = tw[np.arange(1, q) * stride]  # (q - 1, 6): j >= 1 only
        for p in (1, 2, 3):
            c, s = w[:, 2 * p - 2], w[:, 2 * p - 1]
            yr[:, :, p, 1:], yi[:, :, p, 1:] = _rot(yr[:, :, p, 1:], yi[:, :, p, 1:], c, s)
        re, im = yr.reshape(T, N), yi.reshape(T, N)
        length, stride = q, stride * 4
    return re, im


def power_spectrum(frames, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """P[k] = |2 X[k]|^2 of the block-scaled frames, and their block exponents.

    Returns
    -------
    P : ndarray, (T, N + 1), int64
        Equal to 2^(62 - 2r) |rfft|^2 of the float front end, up to rounding.
    r : ndarray, (T,), int64
    """
    y, r = window_frames(frames, tables)  # (T, n_fft)
    Zr, Zi = fft_radix4(y[:, 0::2], y[:, 1::2], tables)  # (T, N), digit-reversed
    order = tables.fft_order.astype(np.int64)
    Zr, Zi = Zr[:, order], Zi[:, order]  # (T, N) natural order
    N = Zr.shape[1]
    k = np.arange(N // 2 + 1)
    mk = (N - k) % N
    Ar, Ai = Zr[:, k] + Zr[:, mk], Zi[:, k] - Zi[:, mk]  # (T, N/2 + 1)
    Br, Bi = Zr[:, k] - Zr[:, mk], Zi[:, k] + Zi[:, mk]
    tw = tables.rfft_twiddles.astype(np.int64)
    Cr, Ci = _rot(Br, Bi, tw[:, 0], tw[:, 1])
    P = np.zeros((Zr.shape[0], N + 1), dtype=np.int64)
    P[:, k] = (Ar + Ci) ** 2 + (Ai - Cr) ** 2
    P[:, N - k] = (Ar - Ci) ** 2 + (Ai + Cr) ** 2
    return P, r


def mel_energies(P, tables: FrontendTables) -> np.ndarray:
    """floor(sum_k wm[m, k] P[k] / 2^20), exact, as uint64 (T, M)."""
    P = np.asarray(P, dtype=np.int64).astype(np.uint64)
    hi, lo = P >> np.uint64(32), P & np.uint64(0xFFFFFFFF)  # (T, N + 1)
    mel = np.zeros((P.shape[0], tables.n_mels), dtype=np.uint64)
    offset = 0
    for m in range(tables.n_mels):
        f, c = int(tables.mel_first[m]), int(tables.mel_count[m])
        w = tables.mel_weights[offset:offset + c].view(np.uint32).astype(np.uint64)  # (c,)
        acc_h = (hi[:, f:f + c] * w).sum(axis=1, dtype=np.uint64)  # (T,)
        acc_l = (lo[:, f:f + c] * w).sum(axis=1, dtype=np.uint64)
        mel[:, m] = (acc_h << np.uint64(32 - WEIGHT_BITS)) + (acc_l >> np.uint64(WEIGHT_BITS))
        offset += c
    return mel


def log_q8(mel, r, tables: FrontendTables) -> np.ndarray:
    """round(256 ln((mel + F_r) / 2^(62 - 2r))) as int16 (T, M), by the integer log."""
    mel = np.asarray(mel, dtype=np.uint64)
    r = np.asarray(r, dtype=np.int64)[:, None]  # (T, 1)
    F0 = np.uint64(tables.floor_q62)
    half = ((np.int64(1) << (2 * r)) >> 1).astype(np.uint64)  # (T, 1)
    F = (F0 + half) >> (2 * r).astype(np.uint64)  # (T, 1)
    v = np.maximum(mel + F, np.uint64(1))  # (T, M)
    n = bit_length(v) - 1  # (T, M) 0 .. 63
    m = v << (63 - n).astype(np.uint64)  # leading 1 at bit 63
    idx = ((m >> np.uint64(63 - LOG2_BITS)) & np.uint64((1 << LOG2_BITS) - 1)).astype(np.int64)
    frac = ((m >> np.uint64(63 - LOG2_BITS - LOG2_FRAC)) & np.uint64(0xFFFF)).astype(np.int64)
    t = tables.log2_table.astype(np.int64)
    lf = t[idx] + (((t[idx + 1] - t[idx]) * frac + (1 << (LOG2_FRAC - 1))) >> LOG2_FRAC)
    L = (n << LOG2_FRAC) + lf - ((FLOOR_BITS - 2 * r) << LOG2_FRAC)
    L = np.clip(L, -(2**31), 2**31 - 1)
    shift = LOG2_FRAC + 31 - OUT_FRAC
    out = (L * LN2_Q31 + (np.int64(1) << (shift - 1))) >> shift
    return np.clip(out, -32768, 32767).astype(np.int16)


def logmel_frames_q8(frames, tables: FrontendTables) -> np.ndarray:
    """The whole frame pipeline: int16 frames (T, win) -> int16 Q8 log-mel (T, M)."""
    P, r = power_spectrum(frames, tables)
    return log_q8(mel_energies(P, tables), r, tables)


# ==== whole signals =====================================================================

def pcm16(x) -> np.ndarray:
    """Float samples in [-1, 1) -> int16 PCM: round_half_away(32768 x), saturated
    (exact for audio decoded from 16-bit PCM, which is s / 32768)."""
    q = round_half_away(np.asarray(x, dtype=np.float64) * 32768.0)
    return np.clip(q, -32768, 32767).astype(np.int16)


def logmel_q8(signal, config: FeatureConfig = FeatureConfig(),
              trim_trailing_silence: bool | None = None) -> np.ndarray:
    """Integer log-mel of a mono int16 PCM signal: the frames of features.logmel.

    Parameters
    ----------
    signal : ndarray, (n,), int16
        PCM samples at ``config.sample_rate`` (float audio: :func:`pcm16` first).
    config : FeatureConfig
        Settings (n_fft 32, 128 or 512; see :func:`check_config`).
    trim_trailing_silence : bool, optional
        Drop the trailing run of exact zeros first; default ``config``'s setting.

    Returns
    -------
    ndarray, (T, M), int16
        Q8 natural log of mel power + log_floor, ``T = 1 + max(0, n' - win) // hop``.
    """
    s = np.asarray(signal)
    if s.dtype != np.int16 or s.ndim != 1:
        raise ValueError(f"logmel_q8 expects a mono int16 signal (n,), got {s.dtype} {s.shape}")
    trim = config.trim_trailing_silence if trim_trailing_silence is None \
        else trim_trailing_silence
    if trim:
        s = trim_trailing_zeros(s)
    frames = np.ascontiguousarray(frame_signal(s, config))  # (T, win)
    return logmel_frames_q8(frames, frontend_tables(config))


def logmel_int(signal, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Drop-in for :func:`pyreparam.audio.features.logmel` computed by the device's
    integer front end: float samples (x = s / 32768) -> float32 (T, M) = q / 256.

    Training on these features trains on exactly what the device computes."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"logmel_int expects a mono signal (n,), got shape {x.shape}")
    q = logmel_q8(pcm16(x), config)
    return (q.astype(np.float32) / np.float32(2**OUT_FRAC)).astype(np.float32)


__all__ = ["FrontendTables", "bit_length", "check_config", "digit_reverse_table",
           "fft_radix4", "fft_twiddle_table", "frontend_tables", "log2_table", "log_q8",
           "logmel_frames_q8", "logmel_int", "logmel_q8", "mel_energies", "mel_tables",
           "pcm16", "power_spectrum", "rfft_twiddle_table", "window_frames", "window_table"]
