/*
 * Internal: the steps of the integer log-mel front end (not public API), shared by
 * pr_logmel_frame_s16.c and any future optimized variant. NumPy oracle:
 * pyreparam/quant/qfrontend.py (its module doc lists the steps); equations, scalings
 * and bounds in reference/frontend_int.md. N = n_fft / 2 = 4^L complex points.
 *
 * Overflow, for *any* table contents (the tables are the caller's): |s 2^g| <= 2^22
 * and |window| <= 2^31 give |y| <= 2^21 and L1 = sum |y 2^k| <= 2^30 (win <= 512).
 * Inside the FFT every value before a halving is a combination of the inputs with
 * coefficients of modulus <= 1 (an int32 twiddle pair has modulus <= sqrt 2, and each
 * stage halves), so it stays below L1 + 4 < 2^31 and a rot's product sum below 2^62;
 * after the last stage |Z| <= 2^29.5, the real split's A / 2 and C stay below 2^30
 * and X' below 2^31 (L = 2, the worst case); P < 2^63. The mel sums are uint64 (they
 * wrap, which is defined, only for weights the builder never writes); log2 entries are
 * taken mod 2^17. reference/frontend_int.md, section 4, has the argument.
 */
#ifndef PR_LOGMEL_INTERNAL_H
#define PR_LOGMEL_INTERNAL_H

#include "pr_q_internal.h"

/* Always inlined (gcc, clang): gcc -O2 otherwise calls the butterfly out of line in
 * the FFT's loops (about 3,000 more instructions per frame on Cortex-M4). */
#if defined(__GNUC__)
#define PR_LM_INLINE static inline __attribute__((always_inline))
#else
#define PR_LM_INLINE static inline
#endif

enum {
    PR_LM_SCALED_BITS = 22,     /* |s 2^g| <= 2^22 */
    PR_LM_L1_BITS = 30,         /* sum |y 2^k| <= 2^30 */
    PR_LM_WEIGHT_BITS = 20,     /* mel weights in Q20 */
    PR_LM_FLOOR_BITS = 62,      /* floor_q62 = round(log_floor 2^62) */
    PR_LM_LOG2_BITS = 7,        /* log2 table: 2^7 intervals */
    PR_LM_LOG2_FRAC = 16,       /* log2 in Q16 */
    PR_LM_INTERP_BITS = 14,     /* linear interpolation between table entries */
    PR_LM_LN2_Q31 = 1488522236  /* round(ln 2 2^31) */
};

/* Significant bits of x (0 for x = 0): 64 minus the leading zeros (the CLZ
 * instruction with gcc / clang, else a binary search: the same result). */
PR_LM_INLINE int32_t pr_lm_bit_length(uint64_t x)
{
#if defined(__GNUC__)
    return x == 0 ? 0 : 64 - __builtin_clzll(x);
#else
    int32_t n = 0;
    int32_t step;
    for (step = 32; step >= 1; step >>= 1) {
        if ((x >> step) != 0) {
            x >>= step;
            n += step;
        }
    }
    return n + (int32_t)x;
#endif
}

/* L = log4 N (N = 16, 64 or 256). */
PR_LM_INLINE int32_t pr_lm_stages(int32_t N)
{
    return N == 16 ? 2 : (N == 64 ? 3 : 4);
}

/* rot(u, W) = u (c - i s) / 2^32 = u W / 2 for W = (c - i s) / 2^31, both components
 * rounded half up: out = (re, im). |u| <= 2^31 - 2^29 keeps the sums below 2^63. */
PR_LM_INLINE void pr_lm_rot(int32_t ur, int32_t ui, int32_t c, int32_t s, int32_t *out)
{
    const int64_t half = (int64_t)1 << 31;
    out[0] = (int32_t)(((int64_t)ur * c + (int64_t)ui * s + half) >> 32);
    out[1] = (int32_t)(((int64_t)ui * c + (int64_t)(-ur) * s + half) >> 32);
}

/* Step 1: the windowed frame y (n_fft int32, zero padded) and its block exponent
 * e = g + k (returned); y is left unscaled by 2^k, which *k receives (the FFT's first
 * stage applies it):
 *   u = OR (s XOR (s >> 15)), b = bitlen(u), g = min(22 - b, 16 + L)   |s 2^g| <= 2^22
 *   y[n] = round_half_up(s[n] 2^g w[n] / 2^32)                         |y| <= 2^21
 *   S = sum (y XOR (y >> 31))  (|y|, less 1 for negative y: S <= sum |y| <= S + win)
 *   k = max(0, min(30 - bitlen(S + win), 16 + L - g))   sum |y 2^k| <= 2^30 */
PR_LM_INLINE int32_t pr_lm_window(const int32_t *window, const int16_t *s, int32_t win,
                                   int32_t n_fft, int32_t *y, int32_t *k)
{
    const int32_t emax = 16 + pr_lm_stages(n_fft / 2);
    uint32_t u = 0;
    uint32_t S = 0;
    int32_t g, scale, n;
    for (n = 0; n < win; ++n) {
        u |= (uint32_t)(s[n] ^ (s[n] >> 15));
    }
    g = pr_q_min32(PR_LM_SCALED_BITS - pr_lm_bit_length(u), emax);
    scale = (int32_t)1 << g;
    for (n = 0; n < win; ++n) {
        const int64_t half = (int64_t)1 << 31;
        const int32_t v = (int32_t)(((int64_t)(s[n] * scale) * window[n] + half) >> 32);
        y[n] = v;
        S += (uint32_t)(v ^ (v >> 31));
    }
    for (n = win; n < n_fft; ++n) {
        y[n] = 0;
    }
    *k = pr_q_max32(0, pr_q_min32(PR_LM_L1_BITS - pr_lm_bit_length(S + (uint32_t)win),
                                  emax - g));
    return g + *k;
}

/* One radix-4 decimation-in-frequency butterfly on the complex values a0 = z[0..1],
 * a1 = z[q2..], a2 = z[2 q2..], a3 = z[3 q2..] (q2 = 2 q int32 apart), in place, with
 * inputs times `scale`:
 *   b0 = a0 + a2, b1 = a0 - a2, b2 = a1 + a3, b3 = a1 - a3
 *   a0 <- b0 + b2, a1 <- b1 - i b3, a2 <- b0 - b2, a3 <- b1 + i b3
 * halve: a0 / 2, and a1, a2, a3 rotated by w = (c1, s1, c2, s2, c3, s3) (which
 * halves) or, for w == NULL (j = 0), / 2 (toward zero). Not halve: w must be NULL. */
PR_LM_INLINE void pr_lm_butterfly(int32_t *z, int32_t q2, const int32_t *w, int32_t scale,
                                   int32_t halve)
{
    int32_t *a1 = z + q2;
    int32_t *a2 = a1 + q2;
    int32_t *a3 = a2 + q2;
    const int32_t a0r = z[0] * scale, a0i = z[1] * scale;
    const int32_t a1r = a1[0] * scale, a1i = a1[1] * scale;
    const int32_t a2r = a2[0] * scale, a2i = a2[1] * scale;
    const int32_t a3r = a3[0] * scale, a3i = a3[1] * scale;
    const int32_t b0r = a0r + a2r, b0i = a0i + a2i;
    const int32_t b1r = a0r - a2r, b1i = a0i - a2i;
    const int32_t b2r = a1r + a3r, b2i = a1i + a3i;
    const int32_t b3r = a1r - a3r, b3i = a1i - a3i;
    if (!halve) {
        z[0] = b0r + b2r;
        z[1] = b0i + b2i;
        a1[0] = b1r + b3i;
        a1[1] = b1i - b3r;
        a2[0] = b0r - b2r;
        a2[1] = b0i - b2i;
        a3[0] = b1r - b3i;
        a3[1] = b1i + b3r;
    } else if (w == NULL) {
        z[0] = (b0r + b2r) / 2;
        z[1] = (b0i + b2i) / 2;
        a1[0] = (b1r + b3i) / 2;
        a1[1] = (b1i - b3r) / 2;
        a2[0] = (b0r - b2r) / 2;
        a2[1] = (b0i - b2i) / 2;
        a3[0] = (b1r - b3i) / 2;
        a3[1] = (b1i + b3r) / 2;
    } else {
        z[0] = (b0r + b2r) / 2;
        z[1] = (b0i + b2i) / 2;
        pr_lm_rot(b1r + b3i, b1i - b3r, w[0], w[1], a1);
        pr_lm_rot(b0r - b2r, b0i - b2i, w[2], w[3], a2);
        pr_lm_rot(b1r - b3i, b1i + b3r, w[4], w[5], a3);
    }
}

/* One halving stage of the FFT: groups of len points (q = len / 4 apart), twiddle row
 * j * stride for butterfly j = 1 .. q - 1, inputs times scale. Called with constant
 * sizes, so that the compiler can address the four points with fixed offsets. */
PR_LM_INLINE void pr_lm_stage(int32_t *z, int32_t N, int32_t len, const int32_t *twiddles,
                              int32_t stride, int32_t scale)
{
    const int32_t q = len >> 2;
    int32_t g, j;
    for (g = 0; g < N; g += len) {
        pr_lm_butterfly(z + 2 * g, 2 * q, NULL, scale, 1);
    }
    for (j = 1; j < q; ++j) {
        const int32_t *w = twiddles + 6 * j * stride;
        for (g = j; g < N; g += len) {
            pr_lm_butterfly(z + 2 * g, 2 * q, w, scale, 1);
        }
    }
}

/* Step 2: in-place FFT of the N complex values z (interleaved re, im) times 2^k,
 * divided by 2^(L-1): every stage but the last halves. Output in base-4
 * digit-reversed order. Stage t (group length len = N / 4^t) takes twiddle row
 * j 4^t for its butterfly j. */
PR_LM_INLINE void pr_lm_fft(int32_t *z, int32_t N, const int32_t *twiddles, int32_t k)
{
    const int32_t scale = (int32_t)1 << k;
    int32_t g;
    if (N == 256) {
        pr_lm_stage(z, 256, 256, twiddles, 1, scale);
        pr_lm_stage(z, 256, 64, twiddles, 4, 1);
        pr_lm_stage(z, 256, 16, twiddles, 16, 1);
    } else if (N == 64) {
        pr_lm_stage(z, 64, 64, twiddles, 1, scale);
        pr_lm_stage(z, 64, 16, twiddles, 4, 1);
    } else {
        pr_lm_stage(z, 16, 16, twiddles, 1, scale);
    }
    for (g = 0; g < N; g += 4) {                                 /* last stage */
        pr_lm_butterfly(z + 2 * g, 2, NULL, 1, 0);
    }
}

/* P[k] = re^2 + im^2 as (low, high) 32-bit words; |re|, |im| < 2^31 so P < 2^63. */
PR_LM_INLINE void pr_lm_put_power(uint32_t *P, int32_t k, int32_t re, int32_t im)
{
    const uint64_t p = (uint64_t)((int64_t)re * re) + (uint64_t)((int64_t)im * im);
    P[2 * k] = (uint32_t)p;
    P[2 * k + 1] = (uint32_t)(p >> 32);
}

/* Step 3: the real split and the power spectrum, k = 0 .. N/2:
 *   A = Z[k] + conj Z[N-k], C = rot(Z[k] - conj Z[N-k], W_2N^k)
 *   P[k] = |A / 2 - iC|^2,  P[N-k] = |A / 2 + iC|^2        (|X[k]|^2 up to scale)
 * Z[k] is read at z[order[k] mod N] (digit-reversed FFT output). */
PR_LM_INLINE void pr_lm_power(const int32_t *z, int32_t N, const int32_t *twiddles,
                               const uint16_t *order, uint32_t *P)
{
    const int32_t mask = N - 1;
    int32_t k;
    for (k = 0; k <= N / 2; ++k) {
        const int32_t *zk = z + 2 * (order[k] & mask);
        const int32_t *zm = z + 2 * (order[(N - k) & mask] & mask);
        const int32_t Ar = (zk[0] + zm[0]) / 2, Ai = (zk[1] - zm[1]) / 2;
        int32_t C[2];
        pr_lm_rot(zk[0] - zm[0], zk[1] + zm[1], twiddles[2 * k], twiddles[2 * k + 1], C);
        pr_lm_put_power(P, k, Ar + C[1], Ai - C[0]);
        pr_lm_put_power(P, N - k, Ar - C[1], Ai + C[0]);
    }
}

/* Step 4: floor(sum_i w[i] P[first + i] / 2^20) over count bins, exact in uint64:
 * P = H 2^32 + L, sum w P = (sum w H) 2^32 + sum w L. */
PR_LM_INLINE uint64_t pr_lm_mel(const uint32_t *P, int32_t count, const int32_t *w)
{
    const int32_t *end = w + count;
    uint64_t acc_h = 0;
    uint64_t acc_l = 0;
    for (; w < end; ++w, P += 2) {
        acc_l += (uint64_t)P[0] * (uint32_t)*w;
        acc_h += (uint64_t)P[1] * (uint32_t)*w;
    }
    return (acc_h << (32 - PR_LM_WEIGHT_BITS)) + (acc_l >> PR_LM_WEIGHT_BITS);
}

/* Step 5: round(2^8 ln(v / 2^E)), v = max(1, mel + F): log2(v) in Q16 is the bit
 * position n of v's leading 1 plus log2(1 + f) for the bits f below it: the table at
 * f's top 7 bits, linear interpolation on the next 14. Table entries are read
 * modulo 2^17 (the builder's are 0 .. 65536), so that |L| < 2^22 and the result fits
 * int16 whatever the table holds. */
PR_LM_INLINE int16_t pr_lm_log_q8(uint64_t v, int32_t E, const int32_t *t)
{
    const uint32_t mask = (1u << (PR_LM_LOG2_FRAC + 1)) - 1u;
    int32_t n, idx, frac, t0, t1, L;
    uint32_t top;
    if (v == 0) {
        v = 1;
    }
    n = pr_lm_bit_length(v) - 1;                              /* 0 .. 63 */
    top = n >= 31 ? (uint32_t)(v >> (n - 31)) : (uint32_t)v << (31 - n); /* 1.f in Q31 */
    idx = (int32_t)((top >> (31 - PR_LM_LOG2_BITS)) & ((1u << PR_LM_LOG2_BITS) - 1u));
    frac = (int32_t)((top >> (31 - PR_LM_LOG2_BITS - PR_LM_INTERP_BITS)) &
                     ((1u << PR_LM_INTERP_BITS) - 1u));
    t0 = (int32_t)((uint32_t)t[idx] & mask);
    t1 = (int32_t)((uint32_t)t[idx + 1] & mask);
    L = (n - E) * (1 << PR_LM_LOG2_FRAC) + t0 +
        (((t1 - t0) * frac + (1 << (PR_LM_INTERP_BITS - 1))) >> PR_LM_INTERP_BITS);
    return (int16_t)(((int64_t)L * PR_LM_LN2_Q31 + ((int64_t)1 << 38)) >> 39);
}

#endif /* PR_LOGMEL_INTERNAL_H */
