/*
 * Internal: LayerNorm's per-row inverse square root (not public API), shared by
 * pr_layernorm_s16_s8.c and its SIMD variants. Arithmetic in reference/int8.md:
 *
 *   k   = the smallest k >= 0 with N = V 4^k >= 2^60   (then N < 2^62)
 *   r   = isqrt(N) = floor(sqrt(N))                     r in [2^30, 2^31)
 *   inv = floor((2^61 + floor(r / 2)) / r)              = round(2^61 / r), half up
 *
 * Method (no division, no floating point, exact):
 *
 * 1. k by a binary search over 16, 8, 4, 2, 1 pairs of bits: the steps give the
 *    largest k' <= 31 with V 4^k' < 2^60 (the condition is monotone in k'); k = k' + 1
 *    when V < 2^60 (k' < 29 as V >= 1), else k = 0.
 * 2. An estimate Y of 2^61 / sqrt(N) = 2^31 / sqrt(u), u = a / 2^30 in [1, 4) with
 *    a = floor(N / 2^30): a 48-entry table of 2^31 / sqrt(c) at the midpoints c of
 *    [i/16, (i+1)/16), i = floor(a / 2^26) in 16..63 (|u/c - 1| <= 1/33), then three
 *    fixed-point Newton steps y <- y + y (1 - u y^2) / 2 in Q31 (u y^2 in Q31 from
 *    two truncated products). The relative error e of y goes to -(3/2) e^2 - e^3/2
 *    (<= 0: from below) plus a few 2^-31 of truncation: |e| <= 0.031, 0.0015, 4e-6,
 *    then a few 2^-30. The bound keeps every product in range: y^2 < 2^63,
 *    a y^2 / 2^31 < 2^62, |y (2^31 - u y^2 2^31)| < 2^58.
 * 3. r0 = floor(a Y / 2^31) ~= sqrt(a) 2^15 ~= sqrt(N), clamped to [2^30, 2^31 - 1];
 *    then r is corrected exactly: while r^2 > N: r -= 1; while (r + 1)^2 <= N: r += 1.
 *    isqrt(N) = R lies in [2^30, 2^31 - 1]. If r > R then r^2 >= (R + 1)^2 > N, so the
 *    first loop runs down to R and stops there (R^2 <= N); if r <= R it does not run.
 *    The second loop then runs up while r + 1 <= R, i.e. to R. Both loops are exact
 *    whatever the estimate; its accuracy only bounds their length (one or two steps;
 *    all squares are < 2^62 + 2^32 in uint64).
 * 4. inv: q0 = Y ~= 2^61 / r, clamped to [2^30, 2^31]; with A = 2^61 + floor(r / 2)
 *    and rem = A - q r (exact in int64: |q r| <= 2^62): while rem < 0: q -= 1,
 *    rem += r; while rem >= r: q += 1, rem -= r. At the end 0 <= rem < r, so
 *    q = floor(A / r) exactly, which is the reference's division.
 *
 * The earlier code (bit-by-bit square root, one 64-bit division per row) computed the
 * same two floors; tests/test_quant_ops.py checks this function against
 * math.isqrt and Python integer division (exhaustively over k and the table's
 * intervals' ends, and on random V), through a small C driver.
 */
#ifndef PR_LAYERNORM_INTERNAL_H
#define PR_LAYERNORM_INTERNAL_H

#include "pr_q_internal.h"

/* The smallest k >= 0 with V 4^k >= 2^60, for 1 <= V < 2^62. */
static inline int32_t pr_ln_norm_shift(uint64_t V)
{
    int32_t k = 0;
    int32_t step;
    for (step = 16; step >= 1; step >>= 1) {
        if (V < ((uint64_t)1 << (60 - 2 * step))) { /* V 4^step < 2^60 */
            V <<= 2 * step;
            k += step;
        }
    }
    return V < ((uint64_t)1 << 60) ? k + 1 : k;
}

/* inv = round(2^61 / isqrt(V 4^k)) and k (steps above), for 1 <= V < 2^61. */
static inline int64_t pr_ln_inv_sqrt(int64_t V, int32_t *k)
{
    /* round(2^31 / sqrt((i + 1/2) / 16)), i = 16 .. 63 */
    static const uint32_t y0[48] = {
        2114695713u, 2053387115u, 1997119227u, 1945237133u, 1897199172u, 1852552937u,
        1810917218u, 1771968208u, 1735428857u, 1701060526u, 1668656406u, 1638036256u,
        1609042172u, 1581535151u, 1555392273u, 1530504391u, 1506774204u, 1484114654u,
        1462447584u, 1441702596u, 1421816090u, 1402730445u, 1384393311u, 1366757007u,
        1349778000u, 1333416450u, 1317635818u, 1302402522u, 1287685637u, 1273456629u,
        1259689126u, 1246358707u, 1233442724u, 1220920139u, 1208771378u, 1196978204u,
        1185523604u, 1174391680u, 1163567563u, 1153037323u, 1142787899u, 1132807028u,
        1123083182u, 1113605518u, 1104363818u, 1095348453u, 1086550331u, 1077960865u};
    const uint32_t lo = (uint32_t)1 << 30;
    const int32_t kk = pr_ln_norm_shift((uint64_t)V);
    const uint64_t N = (uint64_t)V << (2 * kk);          /* [2^60, 2^62) */
    const uint32_t a = (uint32_t)(N >> 30);              /* [2^30, 2^32) */
    uint32_t y = y0[(a >> 26) - 16];
    uint32_t r;
    uint64_t q;
    int64_t rem;
    int32_t it;
    for (it = 0; it < 3; ++it) {
        const uint32_t y2 = (uint32_t)(((uint64_t)y * y) >> 31);   /* y^2, Q31 */
        const uint32_t t = (uint32_t)(((uint64_t)a * y2) >> 30);   /* u y^2, Q31 */
        const int32_t d = (int32_t)((int64_t)((uint64_t)1 << 31) - t);
        y = (uint32_t)((int64_t)y + (((int64_t)y * d) >> 32));
    }
    q = ((uint64_t)a * y) >> 31;                         /* ~ sqrt(N) */
    r = q < lo ? lo : (q > 2 * (uint64_t)lo - 1 ? 2 * lo - 1 : (uint32_t)q);
    while ((uint64_t)r * r > N) {
        --r;
    }
    while ((uint64_t)(r + 1) * (r + 1) <= N) {
        ++r;
    }
    q = y < lo ? lo : (y > 2 * (uint64_t)lo ? 2 * (uint64_t)lo : y);  /* ~ 2^61 / r */
    rem = (int64_t)(((uint64_t)1 << 61) + (r >> 1)) - (int64_t)(q * r);
    while (rem < 0) {
        --q;
        rem += r;
    }
    while (rem >= (int64_t)r) {
        ++q;
        rem -= r;
    }
    *k = kk;
    return (int64_t)q;
}

#endif /* PR_LAYERNORM_INTERNAL_H */
