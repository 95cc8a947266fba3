/*
 * Internal: the steps of the integer log-mel front end (not public API), shared by
 * pr_logmel_frame_s16.c and any future optimized variant. NumPy oracle:
 * pyreparam/quant/qfrontend.py; equations, scalings and bounds in
 * reference/frontend_int.md. N = n_fft / 2 complex points (16, 64 or 256).
 *
 * Overflow, for *any* table contents (the tables are the caller's): |window| <= 2^31
 * gives |y| <= 2^30; the block exponent makes L1 = sum |y'| < 2^27 + win / 2. Every
 * value inside the FFT is a combination of the inputs with coefficients of modulus at
 * most (sqrt 2)^t after t twiddled stages (an int32 pair has modulus <= sqrt 2 2^31),
 * so below 2^1.5 L1 < 2^28.6 (t <= 3), plus a few units of rounding; the real split's
 * A, B, C and A +- iC stay below 2 2^1.5 L1, 2^3 L1 and 13.7 L1 < 1.84e9 < 2^31.
 * Products are int64 (< 2^62); the power is < 2^63; the mel sums are uint64 (they may
 * wrap, which is defined, only for weights the builder never writes).
 */
#ifndef PR_LOGMEL_INTERNAL_H
#define PR_LOGMEL_INTERNAL_H

#include "pr_q_internal.h"

enum {
    PR_LM_L1_BITS = 27,         /* block exponent: L1 of the scaled frame < 2^27 */
    PR_LM_WEIGHT_BITS = 20,     /* mel weights in Q20 */
    PR_LM_FLOOR_BITS = 62,      /* floor_q62 = round(log_floor 2^62) */
    PR_LM_LOG2_BITS = 7,        /* log2 table: 2^7 intervals */
    PR_LM_LOG2_FRAC = 16,       /* log2 in Q16 */
    PR_LM_LN2_Q31 = 1488522236  /* round(ln 2 2^31) */
};

/* Significant bits of x (0 for x = 0): 64 minus the leading zeros, binary search. */
static inline int32_t pr_lm_bit_length(uint64_t x)
{
    int32_t n = 0;
    int32_t step;
    for (step = 32; step >= 1; step >>= 1) {
        if ((x >> step) != 0) {
            x >>= step;
            n += step;
        }
    }
    return n + (int32_t)x;
}

/* u (c - i s) / 2^31 with both components rounded half up: out = (re, im). */
static inline void pr_lm_rot(int32_t ur, int32_t ui, int32_t c, int32_t s, int32_t *out)
{
    const int64_t half = (int64_t)1 << 30;
    out[0] = (int32_t)(((int64_t)ur * c + (int64_t)ui * s + half) >> 31);
    out[1] = (int32_t)(((int64_t)ui * c - (int64_t)ur * s + half) >> 31);
}

/* Step 1: y[n] = round_half_up(s[n] w[n] / 2^16) for n < win, 0 up to n_fft; returns
 * the block exponent r = max(0, bitlen(sum |y|) - 27) after dividing y by 2^r (rounded
 * half up). */
static inline int32_t pr_lm_window(const int32_t *window, const int16_t *s, int32_t win,
                                   int32_t n_fft, int32_t *y)
{
    uint64_t l1 = 0;
    int32_t r, n;
    for (n = 0; n < win; ++n) {
        const int32_t v = (int32_t)(((int64_t)s[n] * window[n] + 32768) >> 16); /* |v| <= 2^30 */
        y[n] = v;
        l1 += (uint32_t)(v < 0 ? -v : v);
    }
    for (n = win; n < n_fft; ++n) {
        y[n] = 0;
    }
    r = pr_lm_bit_length(l1) - PR_LM_L1_BITS;
    if (r <= 0) {
        return 0;
    }
    for (n = 0; n < win; ++n) {
        y[n] = (y[n] + ((int32_t)1 << (r - 1))) >> r;
    }
    return r;
}

/* One radix-4 decimation-in-frequency butterfly on the complex values a0 = z[0..1],
 * a1 = z[q2..], a2 = z[2 q2..], a3 = z[3 q2..] (q2 = 2 q int32 apart), in place:
 *   b0 = a0 + a2, b1 = a0 - a2, b2 = a1 + a3, b3 = a1 - a3
 *   a0 <- b0 + b2, a1 <- rot(b1 - i b3, W^j), a2 <- rot(b0 - b2, W^2j),
 *   a3 <- rot(b1 + i b3, W^3j); w = (c1, s1, c2, s2, c3, s3), or NULL for j = 0. */
static inline void pr_lm_butterfly(int32_t *z, int32_t q2, const int32_t *w)
{
    int32_t *a1 = z + q2;
    int32_t *a2 = a1 + q2;
    int32_t *a3 = a2 + q2;
    const int32_t b0r = z[0] + a2[0], b0i = z[1] + a2[1];
    const int32_t b1r = z[0] - a2[0], b1i = z[1] - a2[1];
    const int32_t b2r = a1[0] + a3[0], b2i = a1[1] + a3[1];
    const int32_t b3r = a1[0] - a3[0], b3i = a1[1] - a3[1];
    z[0] = b0r + b2r;
    z[1] = b0i + b2i;
    if (w == NULL) {
        a1[0] = b1r + b3i;
        a1[1] = b1i - b3r;
        a2[0] = b0r - b2r;
        a2[1] = b0i - b2i;
        a3[0] = b1r - b3i;
        a3[1] = b1i + b3r;
    } else {
        pr_lm_rot(b1r + b3i, b1i - b3r, w[0], w[1], a1);
        pr_lm_rot(b0r - b2r, b0i - b2i, w[2], w[3], a2);
        pr_lm_rot(b1r - b3i, b1i + b3r, w[4], w[5], a3);
    }
}

/* Step 2: in-place FFT of N = 4^j complex values z (interleaved re, im), no scaling;
 * output in base-4 digit-reversed order. Stage by stage (group length len, q = len/4),
 * twiddle j of a stage is row j * stride of the table (stride = N / len). */
static inline void pr_lm_fft(int32_t *z, int32_t N, const int32_t *twiddles)
{
    int32_t len, stride;
    for (len = N, stride = 1; len >= 4; len >>= 2, stride <<= 2) {
        const int32_t q = len >> 2;
        int32_t g, j;
        for (g = 0; g < N; g += len) {
            pr_lm_butterfly(z + 2 * g, 2 * q, NULL);
        }
        for (j = 1; j < q; ++j) {
            const int32_t *w = twiddles + 6 * j * stride;
            for (g = j; g < N; g += len) {
                pr_lm_butterfly(z + 2 * g, 2 * q, w);
            }
        }
    }
}

/* P[k] = re^2 + im^2 as (low, high) 32-bit words; |re|, |im| < 2^31 so P < 2^63. */
static inline void pr_lm_put_power(uint32_t *P, int32_t k, int32_t re, int32_t im)
{
    const uint64_t p = (uint64_t)((int64_t)re * re) + (uint64_t)((int64_t)im * im);
    P[2 * k] = (uint32_t)p;
    P[2 * k + 1] = (uint32_t)(p >> 32);
}

/* Step 3: the real split and the power spectrum, k = 0 .. N/2:
 *   A = Z[k] + conj Z[N-k], B = Z[k] - conj Z[N-k], C = rot(B, W_2N^k)
 *   P[k] = |A - iC|^2 = |2 X[k]|^2,  P[N-k] = |A + iC|^2 = |2 X[N-k]|^2
 * Z[k] is read at z[order[k] mod N] (digit-reversed FFT output). */
static inline void pr_lm_power(const int32_t *z, int32_t N, const int32_t *twiddles,
                               const uint16_t *order, uint32_t *P)
{
    const int32_t mask = N - 1;
    int32_t k;
    for (k = 0; k <= N / 2; ++k) {
        const int32_t *zk = z + 2 * (order[k] & mask);
        const int32_t *zm = z + 2 * (order[(N - k) & mask] & mask);
        const int32_t Ar = zk[0] + zm[0], Ai = zk[1] - zm[1];
        int32_t C[2];
        pr_lm_rot(zk[0] - zm[0], zk[1] + zm[1], twiddles[2 * k], twiddles[2 * k + 1], C);
        pr_lm_put_power(P, k, Ar + C[1], Ai - C[0]);
        pr_lm_put_power(P, N - k, Ar - C[1], Ai + C[0]);
    }
}

/* Step 4: floor(sum_i w[i] P[first + i] / 2^20) over count bins, exact in uint64:
 * P = H 2^32 + L, sum w P = (sum w H) 2^32 + sum w L. */
static inline uint64_t pr_lm_mel(const uint32_t *P, int32_t first, int32_t count,
                                 const int32_t *w)
{
    uint64_t acc_h = 0;
    uint64_t acc_l = 0;
    int32_t i;
    for (i = 0; i < count; ++i) {
        const uint32_t wi = (uint32_t)w[i];
        acc_l += (uint64_t)P[2 * (first + i)] * wi;
        acc_h += (uint64_t)P[2 * (first + i) + 1] * wi;
    }
    return (acc_h << (32 - PR_LM_WEIGHT_BITS)) + (acc_l >> PR_LM_WEIGHT_BITS);
}

/* Step 5: round(2^8 ln(v / 2^(62 - 2r))) with v = max(1, mel + F_r), saturated to
 * int16. log2(v) in Q16 = bit position n of v's leading 1 plus log2(1 + f) for the
 * 23 bits f below it: the table at its 7 top bits, linear interpolation on the next
 * 16; then the Q16 log2 (saturated to int32) times round(ln 2 2^31), rounded half up
 * by 2^39. */
static inline int16_t pr_lm_log_q8(uint64_t mel, uint64_t F, int32_t r, const int32_t *t)
{
    uint64_t v = mel + F;
    int32_t n, idx;
    uint64_t m;
    int64_t frac, lf, L;
    if (v == 0) {
        v = 1;
    }
    n = pr_lm_bit_length(v) - 1;
    m = v << (63 - n);
    idx = (int32_t)((m >> (63 - PR_LM_LOG2_BITS)) & ((1u << PR_LM_LOG2_BITS) - 1u));
    frac = (int64_t)((m >> (63 - PR_LM_LOG2_BITS - PR_LM_LOG2_FRAC)) & 0xFFFFu);
    lf = t[idx] + ((((int64_t)t[idx + 1] - t[idx]) * frac +
                    ((int64_t)1 << (PR_LM_LOG2_FRAC - 1))) >> PR_LM_LOG2_FRAC);
    L = ((int64_t)n << PR_LM_LOG2_FRAC) + lf -
        ((int64_t)(PR_LM_FLOOR_BITS - 2 * r) << PR_LM_LOG2_FRAC);
    L = pr_q_clamp64(L, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    L = (L * PR_LM_LN2_Q31 + ((int64_t)1 << 38)) >> 39;
    return (int16_t)pr_q_clamp64(L, -32768, 32767);
}

#endif /* PR_LOGMEL_INTERNAL_H */
