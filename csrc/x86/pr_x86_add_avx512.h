/*
 * Internal: the residual add shared by the AVX-512 variants pr_add_s16_avx512vnni.c
 * and pr_add_s16_s8_avx512vnni.c (not public API): the checks and the arithmetic of
 * csrc/pr_add_internal.h, 16 elements at a time (pr512_mbqm is the reference's MBQM
 * lane by lane). The including file defines PR_ADD_NAME, PR_ADD_B_T,
 * PR_ADD_B_ZP_MIN / _MAX and PR_ADD_LOAD_B(lanes, p): 16 elements of b as int32.
 */
#include "pr_x86_q512.h"

/* MBQM constants of a per-tensor (multiplier, shift) */
PR512_INLINE pr512_mbqm_c pr512_add_consts(int32_t multiplier, int32_t shift)
{
    return pr512_mbqm_consts(_mm512_set1_epi32(multiplier), _mm512_set1_epi32(shift));
}

/*
 * MBQM(v 2^15, m, e) for |v| <= 2^15, m >= 0, 0 <= r = -e <= 30, in 32-bit lanes:
 * v 2^15 fits int32 (no saturation); with m = m_hi 2^16 + m_lo (m_lo < 2^16)
 *   SRDHM(v 2^15, m) = floor((v m 2^15 + 2^30) / 2^31) = floor((v m + 2^15) / 2^16)
 *                    = v m_hi + floor((v m_lo + 2^15) / 2^16)
 * with |v m_hi| <= 2^30 and |v m_lo + 2^15| < 2^31 - 2^16 (no overflow); then
 *   RDBP(h, r) = (h + 2^(r-1) - [h < 0]) >> r      (r >= 1; h itself for r = 0)
 * (reference/int8.md's remainder form: h = a 2^r + b, both add 1 to a exactly when
 * b >= 2^(r-1) + [h < 0]); |h| <= 2^30 + 1 and r <= 30 keep the sum in int32.
 */
typedef struct {
    __m512i m_hi, m_lo;  /* m >> 16, m & 0xFFFF */
    __m512i round;       /* 2^(r-1), or 0 for r = 0 */
    __m512i sign;        /* 1 for r >= 1 (subtract [h < 0]), 0 for r = 0 */
    __m128i r;
} pr512_add15_c;

PR512_INLINE pr512_add15_c pr512_add15_consts(int32_t multiplier, int32_t shift)
{
    pr512_add15_c c;
    c.m_hi = _mm512_set1_epi32(multiplier >> 16);
    c.m_lo = _mm512_set1_epi32(multiplier & 0xFFFF);
    c.round = _mm512_set1_epi32(shift <= -1 ? 1 << (-shift - 1) : 0);
    c.sign = _mm512_set1_epi32(shift <= -1 ? 1 : 0);
    c.r = _mm_cvtsi32_si128(-shift);
    return c;
}

PR512_INLINE __m512i pr512_mbqm15(const pr512_add15_c *c, __m512i v)
{
    const __m512i h = _mm512_add_epi32(
        _mm512_mullo_epi32(v, c->m_hi),
        _mm512_srai_epi32(_mm512_add_epi32(_mm512_mullo_epi32(v, c->m_lo),
                                           _mm512_set1_epi32(1 << 15)), 16));
    const __m512i t = _mm512_sub_epi32(_mm512_add_epi32(h, c->round),
                                       _mm512_and_si512(_mm512_srli_epi32(h, 31), c->sign));
    return _mm512_sra_epi32(t, c->r);
}

/* y = clamp(MBQM(sat32(MBQM(a 2^15, M_a) + MBQM((b - zb) 2^15, M_b)), M_out)): the
 * reference's steps (pr512_mbqm), or when FAST the 32-bit form above for the inputs
 * and, when RIGHT, one rounding for the output (pr512_mbqm_right). */
PR512_INLINE void pr512_add_loop(const pr_add_params *p, const int16_t *a,
                                 const PR_ADD_B_T *b, int16_t *y, int fast, int right)
{
    const pr512_mbqm_c qa = pr512_add_consts(p->a_multiplier, p->a_shift);
    const pr512_mbqm_c qb = pr512_add_consts(p->b_multiplier, p->b_shift);
    const pr512_mbqm_c qo = pr512_add_consts(p->out_multiplier, p->out_shift);
    const pr512_add15_c fa = pr512_add15_consts(p->a_multiplier, fast ? p->a_shift : 0);
    const pr512_add15_c fb = pr512_add15_consts(p->b_multiplier, fast ? p->b_shift : 0);
    const pr512_right_c ro = pr512_right_consts(right ? -p->out_shift : 1);
    const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
    int32_t i;
    for (i = 0; i < p->size; i += 16) { /* y may alias a or b: loads come first */
        const __mmask16 lanes = pr512_first(p->size - i);
        /* |a 2^15| <= 2^30 and |(b - zb) 2^15| <= 2^23 fit int32 */
        const __m512i av = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(lanes, a + i));
        const __m512i bv = _mm512_sub_epi32(PR_ADD_LOAD_B(lanes, b + i), zb);
        __m512i sa, sb, s, v;
        if (fast) {
            sa = pr512_mbqm15(&fa, av);
            sb = pr512_mbqm15(&fb, bv);
        } else {
            sa = pr512_mbqm(&qa, _mm512_slli_epi32(av, PR_ADD_LEFT_SHIFT));
            sb = pr512_mbqm(&qb, _mm512_slli_epi32(bv, PR_ADD_LEFT_SHIFT));
        }
        s = pr512_add_sat(sa, sb);
        v = right ? pr512_mbqm_right(&ro, s, qo.mult, qo.mult) : pr512_mbqm(&qo, s);
        v = pr512_clamp_zp(v, 0, p->act_min, p->act_max);
        _mm256_mask_storeu_epi16(y + i, lanes, _mm512_cvtepi32_epi16(v));
    }
}

static PR_TARGET_AVX512 void pr512_add(const pr_add_params *p, const int16_t *a,
                                       const PR_ADD_B_T *b, int16_t *y)
{
    const int fast = PR_ADD_LEFT_SHIFT == 15 && p->a_shift <= 0 && p->a_shift >= -30 &&
                     p->b_shift <= 0 && p->b_shift >= -30;
    const int right = p->out_shift <= -1;
    if (fast && right) {
        pr512_add_loop(p, a, b, y, 1, 1);
    } else if (fast) {
        pr512_add_loop(p, a, b, y, 1, 0);
    } else if (right) {
        pr512_add_loop(p, a, b, y, 0, 1);
    } else {
        pr512_add_loop(p, a, b, y, 0, 0);
    }
}

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    const pr_status st = pr_add_check(p, a, b, y, PR_ADD_B_ZP_MIN, PR_ADD_B_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    pr512_add(p, a, b, y);
    return PR_OK;
}
