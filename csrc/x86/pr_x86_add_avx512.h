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

/* y = clamp(MBQM(sat32(MBQM(a 2^15, M_a) + MBQM((b - zb) 2^15, M_b)), M_out)) */
static PR_TARGET_AVX512 void pr512_add(const pr_add_params *p, const int16_t *a,
                                       const PR_ADD_B_T *b, int16_t *y)
{
    const pr512_mbqm_c qa = pr512_add_consts(p->a_multiplier, p->a_shift);
    const pr512_mbqm_c qb = pr512_add_consts(p->b_multiplier, p->b_shift);
    const pr512_mbqm_c qo = pr512_add_consts(p->out_multiplier, p->out_shift);
    const __m512i zb = _mm512_set1_epi32(p->b_zero_point);
    int32_t i;
    for (i = 0; i < p->size; i += 16) { /* y may alias a or b: loads come first */
        const __mmask16 lanes = pr512_first(p->size - i);
        /* |a 2^15| <= 2^30 and |(b - zb) 2^15| <= 2^23 fit int32 */
        const __m512i av = _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(lanes, a + i));
        const __m512i bv = _mm512_sub_epi32(PR_ADD_LOAD_B(lanes, b + i), zb);
        const __m512i sa = pr512_mbqm(&qa, _mm512_slli_epi32(av, PR_ADD_LEFT_SHIFT));
        const __m512i sb = pr512_mbqm(&qb, _mm512_slli_epi32(bv, PR_ADD_LEFT_SHIFT));
        const __m512i v = pr512_clamp_zp(pr512_mbqm(&qo, pr512_add_sat(sa, sb)), 0,
                                         p->act_min, p->act_max);
        _mm256_mask_storeu_epi16(y + i, lanes, _mm512_cvtepi32_epi16(v));
    }
}

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    if (p == NULL || a == NULL || b == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->size < 1) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_multiplier_ok(p->a_multiplier, p->a_shift) ||
        !pr_q_multiplier_ok(p->b_multiplier, p->b_shift) ||
        !pr_q_multiplier_ok(p->out_multiplier, p->out_shift) ||
        p->b_zero_point < PR_ADD_B_ZP_MIN || p->b_zero_point > PR_ADD_B_ZP_MAX ||
        !pr_q_out_range_ok(0, p->act_min, p->act_max, -32768, 32767)) {
        return PR_ERR_PARAM;
    }
    pr512_add(p, a, b, y);
    return PR_OK;
}
