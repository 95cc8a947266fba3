/*
 * Internal: the residual add shared by the AVX2 variants pr_add_s16_avx2.c and
 * pr_add_s16_s8_avx2.c (not public API): the checks and the arithmetic of
 * csrc/pr_add_internal.h, 16 elements at a time in two vectors of 8 int32 lanes
 * (pr256_mbqm is the reference's MBQM lane by lane). The including file defines
 * PR_ADD_NAME, PR_ADD_B_T, PR_ADD_B_ZP_MIN / _MAX and PR_ADD_LOAD_B(p, lo, hi): 16
 * elements of b at p as int32, lanes 0..7 in lo and 8..15 in hi.
 */
#include "pr_x86_q256.h"

/*
 * MBQM(v 2^15, m, e) for |v| <= 2^15, m >= 0, 0 <= r = -e <= 30, in 32-bit lanes (the
 * AVX-512 variant's form, pr_x86_add_avx512.h): v 2^15 fits int32 (no saturation);
 * with m = m_hi 2^16 + m_lo (m_lo < 2^16)
 *   SRDHM(v 2^15, m) = floor((v m 2^15 + 2^30) / 2^31) = floor((v m + 2^15) / 2^16)
 *                    = v m_hi + floor((v m_lo + 2^15) / 2^16)
 * with |v m_hi| <= 2^30 and -2^31 < v m_lo + 2^15 < 2^31 (no overflow); then
 *   RDBP(h, r) = (h + 2^(r-1) - [h < 0]) >> r      (r >= 1; h itself for r = 0)
 * (reference/int8.md's remainder form: h = a 2^r + b, both add 1 to a exactly when
 * b >= 2^(r-1) + [h < 0]); |h| <= 2^30 and r <= 30 keep the sum in int32.
 * The result lies in [-2^30, 2^30 - 1]: |v m / 2^16| < 2^30, and v <= 2^15 - 1 on the
 * positive side; the rounding shift does not leave that range. So the sum of the two
 * inputs lies in [-2^31, 2^31 - 2]: sat32 does not act and is left out.
 */
typedef struct {
    __m256i m_hi, m_lo;  /* m >> 16, m & 0xFFFF */
    __m256i round;       /* 2^(r-1), or 0 for r = 0 */
    __m256i sign;        /* 1 for r >= 1 (subtract [h < 0]), 0 for r = 0 */
    __m128i r;
} pr256_add15_c;

PR256_INLINE pr256_add15_c pr256_add15_consts(int32_t multiplier, int32_t shift)
{
    pr256_add15_c c;
    c.m_hi = _mm256_set1_epi32(multiplier >> 16);
    c.m_lo = _mm256_set1_epi32(multiplier & 0xFFFF);
    c.round = _mm256_set1_epi32(shift <= -1 ? 1 << (-shift - 1) : 0);
    c.sign = _mm256_set1_epi32(shift <= -1 ? 1 : 0);
    c.r = _mm_cvtsi32_si128(-shift);
    return c;
}

PR256_INLINE __m256i pr256_mbqm15(const pr256_add15_c *c, __m256i v)
{
    const __m256i h = _mm256_add_epi32(
        _mm256_mullo_epi32(v, c->m_hi),
        _mm256_srai_epi32(_mm256_add_epi32(_mm256_mullo_epi32(v, c->m_lo),
                                           _mm256_set1_epi32(1 << 15)), 16));
    const __m256i t = _mm256_sub_epi32(_mm256_add_epi32(h, c->round),
                                       _mm256_and_si256(_mm256_srli_epi32(h, 31), c->sign));
    return _mm256_sra_epi32(t, c->r);
}

typedef struct {
    pr256_mbqm_c qa, qb, qo;   /* the reference's MBQM of the inputs and the output */
    pr256_add15_c fa, fb;      /* the 32-bit form of the inputs' MBQM (fast) */
    __m256i zb;
} pr256_add_c;

/* y = clamp(MBQM(sat32(MBQM(a 2^15, M_a) + MBQM((b - zb) 2^15, M_b)), M_out)) of 8
 * lanes: the reference's steps, or when FAST the 32-bit form above for the inputs;
 * OUT_LEFT: the output's shift may be > 0. */
PR256_INLINE __m256i pr256_add8(const pr_add_params *p, const pr256_add_c *c, __m256i av,
                                __m256i bv, int fast, int out_left)
{
    __m256i s;
    bv = _mm256_sub_epi32(bv, c->zb);
    if (fast) {
        s = _mm256_add_epi32(pr256_mbqm15(&c->fa, av), pr256_mbqm15(&c->fb, bv));
    } else { /* |a 2^15| <= 2^30 and |(b - zb) 2^15| <= 2^23 fit int32 */
        s = pr256_add_sat(
            pr256_mbqm(&c->qa, _mm256_slli_epi32(av, PR_ADD_LEFT_SHIFT), 1),
            pr256_mbqm(&c->qb, _mm256_slli_epi32(bv, PR_ADD_LEFT_SHIFT), 1));
    }
    return pr256_clamp_zp(pr256_mbqm(&c->qo, s, out_left), 0, p->act_min, p->act_max);
}

/* 16 elements from a and b (already loaded into registers, or a zero-padded copy) */
PR256_INLINE __m256i pr256_add16(const pr_add_params *p, const pr256_add_c *c,
                                 const int16_t *a, const PR_ADD_B_T *b, int fast,
                                 int out_left)
{
    const __m256i a16 = _mm256_loadu_si256((const __m256i *)(const void *)a);
    __m256i blo, bhi, lo, hi;
    PR_ADD_LOAD_B(b, blo, bhi);
    lo = pr256_add8(p, c, _mm256_cvtepi16_epi32(_mm256_castsi256_si128(a16)), blo, fast,
                    out_left);
    hi = pr256_add8(p, c, _mm256_cvtepi16_epi32(_mm256_extracti128_si256(a16, 1)), bhi,
                    fast, out_left);
    return pr256_words16(lo, hi);
}

PR256_INLINE void pr256_add_loop(const pr_add_params *p, const int16_t *a,
                                 const PR_ADD_B_T *b, int16_t *y, int fast, int out_left)
{
    pr256_add_c c;
    int32_t i;
    c.qa = pr256_mbqm_consts1(p->a_multiplier, p->a_shift);
    c.qb = pr256_mbqm_consts1(p->b_multiplier, p->b_shift);
    c.qo = pr256_mbqm_consts1(p->out_multiplier, p->out_shift);
    c.fa = pr256_add15_consts(p->a_multiplier, fast ? p->a_shift : 0);
    c.fb = pr256_add15_consts(p->b_multiplier, fast ? p->b_shift : 0);
    c.zb = _mm256_set1_epi32(p->b_zero_point);
    for (i = 0; i + 16 <= p->size; i += 16) { /* y may alias a or b: loads come first */
        _mm256_storeu_si256((__m256i *)(void *)(y + i),
                            pr256_add16(p, &c, a + i, b + i, fast, out_left));
    }
    if (i < p->size) { /* the last 1..15 elements through zero-padded copies */
        const size_t n = (size_t)(p->size - i);
        int16_t ta[16], ty[16];
        PR_ADD_B_T tb[16];
        pr256_load_tail(ta, sizeof ta, a + i, n * sizeof *a);
        pr256_load_tail(tb, sizeof tb, b + i, n * sizeof *b);
        _mm256_storeu_si256((__m256i *)(void *)ty, pr256_add16(p, &c, ta, tb, fast, out_left));
        memcpy(y + i, ty, n * sizeof *y);
    }
}

static PR_TARGET_AVX2 void pr256_add(const pr_add_params *p, const int16_t *a,
                                     const PR_ADD_B_T *b, int16_t *y)
{
    const int fast = PR_ADD_LEFT_SHIFT == 15 && p->a_shift <= 0 && p->a_shift >= -30 &&
                     p->b_shift <= 0 && p->b_shift >= -30;
    const int out_left = p->out_shift > 0;
    if (fast && !out_left) {
        pr256_add_loop(p, a, b, y, 1, 0);
    } else if (fast) {
        pr256_add_loop(p, a, b, y, 1, 1);
    } else if (!out_left) {
        pr256_add_loop(p, a, b, y, 0, 0);
    } else {
        pr256_add_loop(p, a, b, y, 0, 1);
    }
}

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    const pr_status st = pr_add_check(p, a, b, y, PR_ADD_B_ZP_MIN, PR_ADD_B_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    pr256_add(p, a, b, y);
    return PR_OK;
}
