/*
 * Internal: the residual add of the Arm DSP variants pr_add_s16_dsp.c /
 * pr_add_s16_s8_dsp.c (not public API): same checks and results as the reference
 * csrc/pr_add_internal.h, with the three per-tensor requantizations' rounding
 * constants computed once (pr_arm_rq). The including file defines PR_ADD_NAME,
 * PR_ADD_B_T and PR_ADD_B_ZP_MIN / _MAX.
 */
#include "pr_arm_common.h"

#ifndef PR_ARM_ADD_H
#define PR_ARM_ADD_H
/* MBQM of a pr_arm_rq without zero point and clamp; right: its shift is <= 0. */
PR_ARM_INLINE int32_t pr_arm_add_mbqm(const pr_arm_rq *q, int32_t x, int32_t right)
{
    return right ? pr_arm_mbqm_right(x, q->multiplier, q->right, q->mask, q->half)
                 : pr_arm_mbqm(x, q->multiplier, q->shift);
}
#endif

/* The element loop, its operands in locals (with -fno-strict-aliasing the stores to
 * y could otherwise alias every field). right: all three shifts are <= 0. */
PR_ARM_INLINE void PR_ARM_ADD_LOOP(int32_t n, const int16_t *a, const PR_ADD_B_T *b,
                                   int32_t b_zero_point, int16_t *y, const pr_arm_rq *qa_p,
                                   const pr_arm_rq *qb_p, const pr_arm_rq *qo_p,
                                   int32_t right)
{
    const pr_arm_rq qa = *qa_p, qb = *qb_p, qo = *qo_p;
    int32_t i;
    for (i = 0; i < n; ++i) {
        /* |a 2^15| <= 2^30 and |(b - zb) 2^15| <= 2^23 fit int32 */
        const int32_t sa = pr_arm_add_mbqm(&qa, (int32_t)a[i] * (1 << PR_ADD_LEFT_SHIFT),
                                           right);
        const int32_t sb = pr_arm_add_mbqm(
            &qb, ((int32_t)b[i] - b_zero_point) * (1 << PR_ADD_LEFT_SHIFT), right);
        const int32_t m = pr_arm_add_mbqm(&qo, __qadd(sa, sb), right);   /* sat32 sum */
        y[i] = (int16_t)(m < qo.act_min ? qo.act_min : (m > qo.act_max ? qo.act_max : m));
    }
}


pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    pr_arm_rq qa, qb, qo;
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
    /* zero points and clamps of the inner two are neutral: MBQM alone */
    qa = pr_arm_rq_make(p->a_multiplier, p->a_shift, 0, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    qb = pr_arm_rq_make(p->b_multiplier, p->b_shift, 0, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    qo = pr_arm_rq_make(p->out_multiplier, p->out_shift, 0, p->act_min, p->act_max);
    if (p->a_shift <= 0 && p->b_shift <= 0 && p->out_shift <= 0) {
        PR_ARM_ADD_LOOP(p->size, a, b, p->b_zero_point, y, &qa, &qb, &qo, 1);
    } else {
        PR_ARM_ADD_LOOP(p->size, a, b, p->b_zero_point, y, &qa, &qb, &qo, 0);
    }
    return PR_OK;
}
