/*
 * pr_mul_s8, AVX-512 variant: same prototype, checks and results as csrc/pr_mul_s8.c
 * (chosen at build time by csrc/build_ffi.py). 16 elements at a time: the product
 * (a - za)(b - zb) (|.| <= 255^2) in int32 lanes, then MBQM lane by lane: as one
 * rounding from the 64-bit product for a right shift (pr512_mbqm_right), else the
 * reference's two steps (pr512_mbqm); zero point and clamp as in the reference.
 */
#include "pr_x86_q512.h"

/* The elements from i on (up to 16): y may alias a or b, the loads come first. */
PR512_INLINE void pr512_mul16(const pr_mul_params *p, const int8_t *a, const int8_t *b,
                              int8_t *y, int32_t i, const pr512_mbqm_c *q,
                              const pr512_right_c *rc, int right)
{
    const __mmask16 lanes = pr512_first(p->size - i);
    const __m512i av = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, a + i));
    const __m512i bv = _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(lanes, b + i));
    const __m512i prod = _mm512_mullo_epi32(
        _mm512_sub_epi32(av, _mm512_set1_epi32(p->a_zero_point)),
        _mm512_sub_epi32(bv, _mm512_set1_epi32(p->b_zero_point)));
    const __m512i v = right ? pr512_mbqm_right(rc, prod, q->mult, q->mult)
                            : pr512_mbqm(q, prod);
    _mm_mask_storeu_epi8(y + i, lanes, _mm512_cvtepi32_epi8(
        pr512_clamp_zp(v, p->out_zero_point, p->act_min, p->act_max)));
}

static PR_TARGET_AVX512 void pr512_mul(const pr_mul_params *p, const int8_t *a,
                                       const int8_t *b, int8_t *y)
{
    const pr512_mbqm_c q = pr512_mbqm_consts(_mm512_set1_epi32(p->multiplier),
                                             _mm512_set1_epi32(p->shift));
    const pr512_right_c rc = pr512_right_consts(p->shift <= -1 ? -p->shift : 1);
    int32_t i;
    if (p->shift <= -1) {
        for (i = 0; i < p->size; i += 16) {
            pr512_mul16(p, a, b, y, i, &q, &rc, 1);
        }
    } else {
        for (i = 0; i < p->size; i += 16) {
            pr512_mul16(p, a, b, y, i, &q, &rc, 0);
        }
    }
}

pr_status pr_mul_s8(const pr_mul_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    const pr_status st = pr_mul_check(p, a, b, y);
    if (st != PR_OK) {
        return st;
    }
    pr512_mul(p, a, b, y);
    return PR_OK;
}
