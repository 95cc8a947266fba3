/*
 * pr_layernorm_s16_s8, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_layernorm_s16_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * Per row: S1 and S2 with vpmaddwd (a pair of squares is at most 2^31: read as
 * unsigned, summed in 64-bit lanes); V, its integer square root and reciprocal are
 * the reference's scalar code (one per row); then 16 channels at a time:
 *   xc = C x - S1                        exact in int32 (|xc| <= 2^28)
 *   z  = sat32(RDBP64(xc inv, 37 - k))   in 64-bit lanes, inv = 2^30 + (inv - 2^30)
 *                                        so that both factors fit _mm512_mul_epi32
 *   u  = MBQM(z, m_i, e_i)               pr512_mbqm (m_i may be negative)
 *   y  = clamp(zp + RDBP(sat32(u + offset_i), 8))
 * The last step saturates u + offset to int32 instead of widening it: where the
 * saturation acts, |u + offset| >= 2^31 - 1, so both RDBP values are beyond 2^22
 * and clamp to the same end of the int8 range.
 */
#include "pr_x86_q512.h"

/* floor(sqrt(v)) by the bit-by-bit method: the reference's code. */
static uint32_t pr_isqrt64(uint64_t v)
{
    uint64_t rem = v;
    uint64_t root = 0;
    uint64_t bit = (uint64_t)1 << 62;
    while (bit > rem) {
        bit >>= 2;
    }
    while (bit != 0) {
        if (rem >= root + bit) {
            rem -= root + bit;
            root = (root >> 1) + bit;
        } else {
            root >>= 1;
        }
        bit >>= 2;
    }
    return (uint32_t)root;
}

/* The reference's pr_ln_inv_sqrt: V 4^k in [2^60, 2^62), inv = round(2^61 / isqrt). */
static int64_t pr_ln_inv_sqrt(int64_t V, int32_t *k)
{
    int64_t r;
    *k = 0;
    while (V < ((int64_t)1 << 60)) {
        V <<= 2;
        *k += 1;
    }
    r = (int64_t)pr_isqrt64((uint64_t)V);
    return (((int64_t)1 << 61) + r / 2) / r;
}

/* S1 = sum x, S2 = sum x^2 of one row of C int16 */
static PR_TARGET_AVX512 void pr512_ln_sums(const int16_t *x, int32_t C, int64_t *S1,
                                           int64_t *S2)
{
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i s1 = _mm512_setzero_si512();
    __m512i s2 = _mm512_setzero_si512();
    int32_t i;
    for (i = 0; i < C; i += 32) {
        const int32_t n = C - i < 32 ? C - i : 32;
        const __mmask32 lanes = n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1u;
        const __m512i v = _mm512_maskz_loadu_epi16(lanes, x + i);
        const __m512i sq = _mm512_madd_epi16(v, v); /* x0^2 + x1^2 <= 2^31: unsigned */
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(v, ones)); /* |S1| <= 2^27 */
        s2 = _mm512_add_epi64(s2, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)));
        s2 = _mm512_add_epi64(s2, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1)));
    }
    *S1 = _mm512_reduce_add_epi32(s1);
    *S2 = _mm512_reduce_add_epi64(s2);
}

/* sat32(RDBP64(xc inv, n)) of 8 lanes (xc sign-extended to 64 bits), 7 <= n <= 37 */
PR512_INLINE __m256i pr512_ln_z8(__m256i xc, __m512i inv_low, int32_t n)
{
    const __m512i x64 = _mm512_cvtepi32_epi64(xc);
    const __m512i mask = _mm512_set1_epi64(((int64_t)1 << n) - 1);
    /* xc inv = xc 2^30 + xc (inv - 2^30), |xc inv| <= 2^59 */
    const __m512i p = _mm512_add_epi64(_mm512_slli_epi64(x64, 30),
                                       _mm512_mul_epi32(x64, inv_low));
    const __m512i thr = _mm512_add_epi64(_mm512_srli_epi64(mask, 1),
                                         _mm512_srli_epi64(p, 63));
    __m512i q = _mm512_sra_epi64(p, _mm_cvtsi32_si128(n));
    q = _mm512_mask_add_epi64(q, _mm512_cmpgt_epi64_mask(_mm512_and_si512(p, mask), thr), q,
                              _mm512_set1_epi64(1));
    q = _mm512_min_epi64(q, _mm512_set1_epi64(PR_Q_INT32_MAX));
    q = _mm512_max_epi64(q, _mm512_set1_epi64(PR_Q_INT32_MIN));
    return _mm512_cvtepi64_epi32(q);
}

static PR_TARGET_AVX512 void pr512_ln_row(const pr_layernorm_params *p, const int16_t *x,
                                          const int32_t *multiplier, const int32_t *shift,
                                          const int32_t *offset, int8_t *y)
{
    const int32_t C = p->channels;
    int64_t S1, S2, V, inv = 0;
    int32_t i, k = 0;
    __m512i inv_low, c, s1;
    pr512_ln_sums(x, C, &S1, &S2);
    V = (int64_t)C * S2 - S1 * S1 + p->eps; /* C^2 (var + eps) / s_x^2, < 2^61 */
    if (V > 0) {
        inv = pr_ln_inv_sqrt(V, &k);
    }
    /* inv = 0 (V = 0) gives xc 2^30 - xc 2^30 = 0: z = 0 as in the reference */
    inv_low = _mm512_set1_epi64(inv - ((int64_t)1 << 30));
    c = _mm512_set1_epi32(C);
    s1 = _mm512_set1_epi32((int32_t)S1);
    for (i = 0; i < C; i += 16) {
        const __mmask16 lanes = pr512_first(C - i);
        const __m512i xv = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(lanes, x + i));
        const __m512i xc = _mm512_sub_epi32(_mm512_mullo_epi32(c, xv), s1);
        const __m512i z = _mm512_inserti64x4(
            _mm512_castsi256_si512(pr512_ln_z8(_mm512_castsi512_si256(xc), inv_low, 37 - k)),
            pr512_ln_z8(_mm512_extracti64x4_epi64(xc, 1), inv_low, 37 - k), 1);
        const pr512_mbqm_c q = pr512_mbqm_consts(
            _mm512_maskz_loadu_epi32(lanes, multiplier + i),
            _mm512_maskz_loadu_epi32(lanes, shift + i));
        const __m512i u = pr512_add_sat(pr512_mbqm(&q, z),
                                        _mm512_maskz_loadu_epi32(lanes, offset + i));
        /* RDBP(u, 8) = (u >> 8) + ((u & 255) > 127 + (u < 0)) */
        const __m512i thr = _mm512_add_epi32(_mm512_set1_epi32(127),
                                             _mm512_srli_epi32(u, 31));
        __m512i v = _mm512_srai_epi32(u, 8);
        v = _mm512_mask_add_epi32(
            v, _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(255)), thr), v,
            _mm512_set1_epi32(1));
        v = pr512_clamp_zp(v, p->out_zero_point, p->act_min, p->act_max);
        _mm_mask_storeu_epi8(y + i, lanes, _mm512_cvtepi32_epi8(v));
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    int64_t t;
    int32_t i;
    if (p == NULL || x == NULL || multiplier == NULL || shift == NULL || offset == NULL ||
        y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->rows < 1 || p->channels < 1 || p->channels > PR_LAYERNORM_MAX_CHANNELS) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok(p->rows, p->channels)) {
        return PR_ERR_OVERFLOW;
    }
    if (p->eps < 0 || p->eps > ((int64_t)1 << 60) ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127)) {
        return PR_ERR_PARAM;
    }
    for (i = 0; i < p->channels; ++i) { /* a negative multiplier carries gamma's sign */
        if (multiplier[i] == PR_Q_INT32_MIN || shift[i] < PR_Q_SHIFT_MIN ||
            shift[i] > PR_Q_SHIFT_MAX) {
            return PR_ERR_PARAM;
        }
    }
    for (t = 0; t < p->rows; ++t) {
        pr512_ln_row(p, x + t * p->channels, multiplier, shift, offset,
                     y + t * p->channels);
    }
    return PR_OK;
}
