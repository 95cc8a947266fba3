r"""NumPy integer reference of the log-mel front end (int16 PCM in, int16 Q8 log-mel out).

Oracle of ``csrc/pr_logmel_frame_s16.c``; they must agree bit for bit. It is the
integer twin of :func:`pyreparam.audio.features.logmel` (same frames, periodic window,
zero padding to n_fft, power spectrum without 1/n scaling, HTK triangles, natural log
of mel power + log_floor in the float's units, samples x = s / 32768), and its output
is what :func:`pyreparam.quant.qcausal.quantize_features` makes of the float features:
``q ~= round(256 ln(mel + 1e-6))``. reference/frontend_int.md writes it out with the
error bounds; it lives in ``quant`` beside qcausal (the integer rule that consumes
its output), as every NumPy oracle of a C kernel does.

One frame (s: win int16 samples; N = n_fft / 2 = 4^L complex points)
------------------------------------------------------------------------
    u     = OR_n (s[n] XOR (s[n] >> 15)),  b = bitlen(u)   so that |s[n]| <= 2^b
    g     = min(22 - b, 16 + L)                            |s 2^g| <= 2^22
    y[n]  = (s[n] 2^g w[n] + 2^31) >> 32                   w: window in Q31; |y| <= 2^21
    S     = sum_n (y[n] XOR (y[n] >> 31))                  |y| (less 1 if y < 0): <= sum |y|
    k     = max(0, min(30 - bitlen(S + win), 16 + L - g)), e = g + k  (block exponent)
    z[n]  = (y[2n] + i y[2n+1]) 2^k, n < N                 (zero padding to n_fft)
    Z     = FFT_N(z) / 2^(L-1): radix-4 decimation in frequency, L stages; every stage
            but the last halves its outputs: y0 = (b0 + b2) / 2, the other outputs of
            the j = 0 butterflies / 2 (division rounds toward zero, as in C), and the
            twiddled ones by rot(u, W) =
            ((u_r c + u_i s + 2^31) >> 32, (u_i c - u_r s + 2^31) >> 32) = u W / 2
            rounded half up (W = (c - i s) / 2^31, Q31). Base-4 digit-reversed order.
    A = Z[k] + conj Z[N-k],  C = rot(Z[k] - conj Z[N-k], W_2N^k)   (k = 0 .. N/2)
    X'[k]   = A / 2 - i C,  X'[N-k] = conj(A / 2 + i C)     (about X_512(z) / 2^(L-1))
    P[k]    = X'_r^2 + X'_i^2                  (int64: < 2^63, <= 2^(62-2L) valid tables)
    mel[m]  = floor(sum_k wm[m, k] P[k] / 2^20)            wm: mel weights in Q20; exact:
              (sum (P >> 32) wm) 2^12 + (sum (P mod 2^32) wm) >> 20       (uint64)
    E       = 2 e + 30 - 2 L                               P ~ 2^E |rfft(x w)|^2
    v       = max(1, mel + F),  F = round(F_0 / 2^(62 - E)),  F_0 = round(log_floor 2^62)
    Lq      = log2(v) in Q16 - E 2^16: bit length n of v, then the table at the 7 bits
              after the leading 1 and linear interpolation on the next 14 (table
              entries taken mod 2^17, so |Lq| < 2^23 for any table)
    out     = (Lq round(ln2 2^31) + 2^38) >> 39            Q8 natural log (fits int16)

Scaling: y 2^k ~ x w 2^(e + 14) with x = s / 2^15, so out ~ 256 ln(mel_float +
log_floor). All shifts of negative numbers are arithmetic (floor). Bounds:
sum |y 2^k| <= 2^30; every value before a halving is a sum over the inputs with
coefficients of modulus <= 1, and still < 2^31 for *any* int32 twiddles (modulus
<= sqrt 2, halved every stage); nothing overflows int32 / int64 for any table
contents, and the uint64 mel sums wrap only for filterbanks the builder refuses
(reference/frontend_int.md).
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
SCALED_BITS = 22          # |s 2^g| <= 2^22: |y| <= 2^21
L1_BITS = 30              # sum |y 2^k| <= 2^30
FLOOR_BITS = 62           # F_0 = round(log_floor 2^62)
LOG2_BITS = 7             # log2 table: 2^7 intervals of [1, 2)
LOG2_FRAC = 16            # log2 in Q16
INTERP_BITS = 14          # linear interpolation between log2 table entries
OUT_FRAC = 8              # output in Q8 (qcausal.FEATURE_FRAC_BITS)
LN2_Q31 = 1488522236      # round(ln 2 2^31)
MIN_FFT, MAX_FFT = 32, 512
MAX_BANDS = 1024


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


def max_band_weight(N: int) -> int:
    """Largest sum of one band's Q20 weights: P < 2^(62 - 2 L), so the sum
    times that stays below 2^63 (the mel sum plus the floor fits uint64)."""
    return (1 << (2 * fft_stages(N) + 1 + WEIGHT_BITS)) - 1


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
        if row.sum() > max_band_weight(config.n_fft // 2):
            raise ValueError(f"mel band {m}'s weights sum to {row.sum() / 2**WEIGHT_BITS:.1f}"
                             f", more than the integer front end allows at n_fft "
                             f"{config.n_fft} ({max_band_weight(config.n_fft // 2) / 2**WEIGHT_BITS:.0f})")
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
    """Significant bits of each uint64 (0 for 0), by the portable C code's binary
    search (gcc and clang use CLZ: the same result)."""
    v = np.asarray(v, dtype=np.uint64).copy()
    n = np.zeros(v.shape, dtype=np.int64)
    for step in (32, 16, 8, 4, 2, 1):
        big = (v >> np.uint64(step)) != 0
        v = np.where(big, v >> np.uint64(step), v)
        n += np.where(big, step, 0)
    return n + v.astype(np.int64)


def fft_stages(N: int) -> int:
    """L = log4 N, the radix-4 stages of an N-point FFT."""
    return (int(N).bit_length() - 1) // 2


def window_frames(frames, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Windowed, block-scaled, zero-padded frames: the FFT's input.

    Returns
    -------
    y : ndarray, (T, n_fft), int64 holding int32
        y[n] 2^k of the module doc (0 beyond the window).
    e : ndarray, (T,), int64
        Block exponents e = g + k (the samples were scaled by about 2^(e - 1)).
    """
    s = np.asarray(frames)
    if s.dtype != np.int16 or s.ndim != 2 or s.shape[1] != tables.win_length:
        raise ValueError(f"frames must be int16 (T, {tables.win_length}), got "
                         f"{s.dtype} {s.shape}")
    L = fft_stages(tables.n_fft // 2)
    s = s.astype(np.int64)
    u = np.bitwise_or.reduce(s ^ (s >> 15), axis=1)  # (T,) 0 .. 32767
    g = np.minimum(SCALED_BITS - bit_length(u.astype(np.uint64)), 16 + L)  # (T,)
    y = ((s << g[:, None]) * tables.window.astype(np.int64) + (1 << 31)) >> 32  # (T, win)
    S = (y ^ (y >> 31)).sum(axis=1) + tables.win_length  # (T,) >= sum |y|, <= 2^30 + win
    k = np.maximum(0, np.minimum(L1_BITS - bit_length(S.astype(np.uint64)), 16 + L - g))
    out = np.zeros((s.shape[0], tables.n_fft), dtype=np.int64)
    out[:, :tables.win_length] = y << k[:, None]
    return out, g + k


def _half(v) -> np.ndarray:
    """v / 2 rounded toward zero (C's integer division)."""
    return (v + (v < 0)) >> 1


def _rot(ur, ui, c, s) -> tuple[np.ndarray, np.ndarray]:
    """u (c - i s) / 2^32 (= u W / 2), each component rounded half up."""
    half = np.int64(1) << 31
    return (ur * c + ui * s + half) >> 32, (ui * c - ur * s + half) >> 32


def fft_radix4(re, im, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """Radix-4 decimation-in-frequency FFT of (T, N) int64 complex data (re, im),
    divided by 2^(L - 1).

    Output in base-4 digit-reversed order (Z[k] at ``tables.fft_order[k]``). Stage by
    stage, for every group of ``length`` points and j < q = length / 4 (a_p at
    j + p q in the group):
        b0 = a0 + a2, b1 = a0 - a2, b2 = a1 + a3, b3 = a1 - a3
        y0 = b0 + b2, y1 = b1 - i b3, y2 = b0 - b2, y3 = b1 + i b3
    then, in every stage but the last (length 4): y0 / 2 and, for j >= 1, y_p <-
    rot(y_p, W^(p j)) (which halves), for j = 0 y_p / 2 (/ rounds toward zero).
    Stored back at a0 .. a3.
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
        if length > 4:
            yr[:, :, 0], yi[:, :, 0] = _half(yr[:, :, 0]), _half(yi[:, :, 0])
            yr[:, :, 1:, 0], yi[:, :, 1:, 0] = _half(yr[:, :, 1:, 0]), _half(yi[:, :, 1:, 0])
            w = tw[np.arange(1, q) * stride]  # (q - 1, 6): j >= 1
            for p in (1, 2, 3):
                c, s = w[:, 2 * p - 2], w[:, 2 * p - 1]
                yr[:, :, p, 1:], yi[:, :, p, 1:] = _rot(yr[:, :, p, 1:], yi[:, :, p, 1:],
                                                        c, s)
        re, im = yr.reshape(T, N), yi.reshape(T, N)
        length, stride = q, stride * 4
    return re, im


def power_spectrum(frames, tables: FrontendTables) -> tuple[np.ndarray, np.ndarray]:
    """P[k] = |X'[k]|^2 of the block-scaled frames, and their block exponents.

    Returns
    -------
    P : ndarray, (T, N + 1), int64
        Equal to 2^E |rfft|^2 of the float front end up to rounding,
        E = :func:`power_exponent` (e).
    e : ndarray, (T,), int64
    """
    y, e = window_frames(frames, tables)  # (T, n_fft)
    Zr, Zi = fft_radix4(y[:, 0::2], y[:, 1::2], tables)  # (T, N), digit-reversed
    N = Zr.shape[1]
    order = tables.fft_order.astype(np.int64) & (N - 1)  # (taken mod N, as in C)
    Zr, Zi = Zr[:, order], Zi[:, order]  # (T, N) natural order
    k = np.arange(N // 2 + 1)
    mk = (N - k) % N
    Ar, Ai = _half(Zr[:, k] + Zr[:, mk]), _half(Zi[:, k] - Zi[:, mk])  # A / 2
    Br, Bi = Zr[:, k] - Zr[:, mk], Zi[:, k] + Zi[:, mk]
    tw = tables.rfft_twiddles.astype(np.int64)
    Cr, Ci = _rot(Br, Bi, tw[:, 0], tw[:, 1])  # B W_2N^k / 2
    P = np.zeros((Zr.shape[0], N + 1), dtype=np.int64)
    P[:, k] = (Ar + Ci) ** 2 + (Ai - Cr) ** 2
    P[:, N - k] = (Ar - Ci) ** 2 + (Ai + Cr) ** 2
    return P, e


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


def power_exponent(e, tables: FrontendTables) -> np.ndarray:
    """E = 2 e + 30 - 2 L: P = 2^E |rfft|^2 (and mel = 2^E mel_float) up to rounding."""
    return 2 * np.asarray(e, dtype=np.int64) + 30 - 2 * fft_stages(tables.n_fft // 2)


def log2_q16(v, table: np.ndarray) -> np.ndarray:
    """2^16 log2 v for integers v >= 1 (uint64): the bit position n of v's leading 1
    plus log2(1 + f) for the bits f below it, the table at f's top 7 bits, linear
    interpolation on the next 14; table entries read modulo 2^17 (as the C code does),
    so the result is below 2^23 whatever the table holds. int64."""
    v = np.asarray(v, dtype=np.uint64)
    n = bit_length(v) - 1  # 0 .. 63
    top = np.where(n >= 31, v >> np.maximum(n - 31, 0).astype(np.uint64),
                   v << np.maximum(31 - n, 0).astype(np.uint64)) & np.uint64(0xFFFFFFFF)
    top = top.astype(np.int64)  # leading 1 at bit 31
    idx = (top >> (31 - LOG2_BITS)) & ((1 << LOG2_BITS) - 1)
    frac = (top >> (31 - LOG2_BITS - INTERP_BITS)) & ((1 << INTERP_BITS) - 1)
    t = np.asarray(table).astype(np.int64) & ((1 << (LOG2_FRAC + 1)) - 1)  # mod 2^17
    return (n << LOG2_FRAC) + t[idx] + \
        (((t[idx + 1] - t[idx]) * frac + (1 << (INTERP_BITS - 1))) >> INTERP_BITS)


def log_q8(mel, e, tables: FrontendTables) -> np.ndarray:
    """round(256 ln((mel + F) / 2^E)) as int16 (T, M), by the integer log."""
    mel = np.asarray(mel, dtype=np.uint64)
    E = power_exponent(e, tables)[:, None]  # (T, 1)
    shift = FLOOR_BITS - E  # (T, 1) 0 .. 62
    half = ((np.int64(1) << shift) >> 1).astype(np.uint64)
    F = (np.uint64(tables.floor_q62) + half) >> shift.astype(np.uint64)  # (T, 1)
    v = np.maximum(mel + F, np.uint64(1))  # (T, M), mod 2^64
    L = log2_q16(v, tables.log2_table) - (E << LOG2_FRAC)
    out_shift = LOG2_FRAC + 31 - OUT_FRAC
    return ((L * LN2_Q31 + (np.int64(1) << (out_shift - 1))) >> out_shift).astype(np.int16)


def logmel_frames_q8(frames, tables: FrontendTables) -> np.ndarray:
    """The whole frame pipeline: int16 frames (T, win) -> int16 Q8 log-mel (T, M)."""
    P, e = power_spectrum(frames, tables)
    return log_q8(mel_energies(P, tables), e, tables)


# ==== whole signals =====================================================================

def pcm16(x) -> np.ndarray:
    """Float samples in [-1, 1) -> int16 PCM: round_half_away(32768 x), saturated
    (exact for audio decoded from 16-bit PCM, which is s / 32768)."""
    q = round_half_away(np.asarray(x, dtype=np.float64) * 32768.0)
    return np.clip(q, -32768, 32767).astype(np.int16)


def pcm_input(signal, config: FeatureConfig, trim_trailing_silence: bool | None,
              use_c: bool | None, name: str) -> tuple[np.ndarray, bool]:
    """The checked int16 signal of an integer front-end function, its trailing zeros
    dropped when asked (default: ``config``'s setting), and whether to run the C code
    (default: when the extension is built)."""
    s = np.asarray(signal)
    if s.dtype != np.int16 or s.ndim != 1:
        raise ValueError(f"{name} expects a mono int16 signal (n,), got {s.dtype} {s.shape}")
    trim = config.trim_trailing_silence if trim_trailing_silence is None \
        else trim_trailing_silence
    if trim:
        s = trim_trailing_zeros(s)
    if use_c is None:
        from pyreparam import native
        use_c = native.available()
    return s, bool(use_c)


def logmel_q8(signal, config: FeatureConfig = FeatureConfig(),
              trim_trailing_silence: bool | None = None,
              use_c: bool | None = None) -> np.ndarray:
    """Integer log-mel of a mono int16 PCM signal: the frames of features.logmel.

    Parameters
    ----------
    signal : ndarray, (n,), int16
        PCM samples at ``config.sample_rate`` (float audio: :func:`pcm16` first).
    config : FeatureConfig
        Settings (n_fft 32, 128 or 512; see :func:`check_config`).
    trim_trailing_silence : bool, optional
        Drop the trailing run of exact zeros first; default ``config``'s setting.
    use_c : bool, optional
        Compute with the C runtime (pr_logmel_frame_s16, about 25x faster) instead of
        this NumPy reference; the result is the same bit for bit. Default: C when the
        extension is built.

    Returns
    -------
    ndarray, (T, M), int16
        Q8 natural log of mel power + log_floor, ``T = 1 + max(0, n' - win) // hop``.
    """
    s, use_c = pcm_input(signal, config, trim_trailing_silence, use_c, "logmel_q8")
    frames = np.ascontiguousarray(frame_signal(s, config))  # (T, win)
    tables = frontend_tables(config)
    if use_c:
        from pyreparam.quant import ckernels
        return ckernels.logmel_frames_s16(frames, tables)
    return logmel_frames_q8(frames, tables)


def logmel_int(signal, config: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Drop-in for :func:`pyreparam.audio.features.logmel` computed by the device's
    integer front end: float samples (x = s / 32768) -> float32 (T, M) = q / 256.

    Training on these features trains on exactly what the device computes."""
    x = np.asarray(signal)
    if x.ndim != 1:
        raise ValueError(f"logmel_int expects a mono signal (n,), got shape {x.shape}")
    q = logmel_q8(pcm16(x), config)
    return (q.astype(np.float32) / np.float32(2**OUT_FRAC)).astype(np.float32)


# ==== the tables as C source ============================================================

def c_header_lines(tables: FrontendTables, name: str) -> list[str]:
    """C declarations of the tables and ``NAME_LOGMEL_PARAMS``, the initializer of a
    pr_logmel_params pointing at them (for a firmware header)::

        static const pr_logmel_params frontend = NAME_LOGMEL_PARAMS;
        int32_t scratch[NAME_LOGMEL_SCRATCH];
        pr_logmel_frame_s16(&frontend, samples, features, scratch, NAME_LOGMEL_SCRATCH);
    """
    N, P = name.upper(), f"{name}_logmel_"

    def array(ctype: str, field: str, a: np.ndarray) -> list[str]:
        flat = np.asarray(a).ravel().tolist()
        rows = [", ".join(str(int(v)) for v in flat[i:i + 12]) + ","
                for i in range(0, len(flat), 12)]
        return [f"static const {ctype} {P}{field}[{max(len(flat), 1)}] = {{"] + \
            ["    " + r for r in rows or ["0,"]] + ["};"]

    lines = [f"/* Integer log-mel front end (pr_logmel_frame_s16): {tables.n_mels} bands of "
             f"int16 Q{OUT_FRAC} per frame of",
             f" * {tables.win_length} int16 samples; tables from "
             "pyreparam.quant.qfrontend.frontend_tables. */",
             f"#define {N}_LOGMEL_WIN_LENGTH {tables.win_length}",
             f"#define {N}_LOGMEL_BANDS {tables.n_mels}",
             f"#define {N}_LOGMEL_SCRATCH {2 * tables.n_fft + 2}"]
    lines += array("int32_t", "window", tables.window)
    lines += array("int32_t", "fft_twiddles", tables.fft_twiddles)
    lines += array("int32_t", "rfft_twiddles", tables.rfft_twiddles)
    lines += array("uint16_t", "fft_order", tables.fft_order)
    lines += array("uint16_t", "mel_first", tables.mel_first)
    lines += array("uint16_t", "mel_count", tables.mel_count)
    lines += array("int32_t", "mel_weights", tables.mel_weights)
    lines += array("int32_t", "log2_table", tables.log2_table)
    fields = ", ".join(P + f for f in ("window", "fft_twiddles", "rfft_twiddles", "fft_order",
                                       "mel_first", "mel_count", "mel_weights", "log2_table"))
    lines.append(f"#define {N}_LOGMEL_PARAMS {{{tables.win_length}, {tables.n_fft}, "
                 f"{tables.n_mels}, {tables.mel_weights.shape[0]}, {tables.floor_q62}LL, "
                 f"{fields}}}")
    return lines


def table_bytes(tables: FrontendTables) -> int:
    """Bytes of constant tables a device stores (flash)."""
    return sum(a.nbytes for a in tables if isinstance(a, np.ndarray))


__all__ = ["FrontendTables", "bit_length", "c_header_lines", "check_config",
           "digit_reverse_table", "fft_radix4", "fft_stages", "fft_twiddle_table", "frontend_tables",
           "log2_table", "log_q8", "max_band_weight", "logmel_frames_q8", "logmel_int", "logmel_q8",
           "mel_energies", "mel_tables", "pcm16", "power_exponent", "power_spectrum", "rfft_twiddle_table",
           "table_bytes", "window_frames", "window_table"]
