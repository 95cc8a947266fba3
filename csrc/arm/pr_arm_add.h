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
#define PR_ARM_ADD_CAT2(a, b) a##b
#define PR_ARM_ADD_CAT(a, b) PR_ARM_ADD_CAT2(a, b)
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


/*
 * The fast loop: each requantization is pr_arm_fast_rq (pr_arm_common.h), whose
 * precondition -2^30 <= x < 2^30 holds throughout: |a 2^15| <= 2^30 with a 2^15 <
 * 2^30, |(b - zb) 2^15| <= 2^30 likewise (2^23 for int8 b). The inputs' shifts may
 * also be 0 (TFLite gives the input with the larger scale the multiplier 1/2, shift
 * 0): then MBQM is SRDHM alone (pr_arm_fast_rq0).
 * The output's shift is a right shift (n >= 1). The sum must satisfy the same
 * precondition, which pr_arm_add_fast_ok checks by bounds (int8 b: always when one
 * input shift is a right shift); then the reference's saturating sum never
 * saturates.
 */
#define PR_ARM_ADD_FAST_LOOP PR_ARM_ADD_CAT(PR_ARM_ADD_LOOP, _fast)
PR_ARM_INLINE void PR_ARM_ADD_FAST_LOOP(int32_t size, const int16_t *a, const PR_ADD_B_T *b,
                                        int32_t b_zero_point, int16_t *y,
                                        const pr_add_params *p, const int32_t c[3])
{
    const int32_t ma = p->a_multiplier, mb = p->b_multiplier, mo = p->out_multiplier;
    const int32_t na = -p->a_shift, nb = -p->b_shift, no = -p->out_shift;
    const int32_t ca = c[0], cb = c[1], co = c[2];
    const int32_t sign_a = na > 0 ? -1 : 0, sign_b = nb > 0 ? -1 : 0;
    int32_t i;
    for (i = 0; i < size; ++i) {
        const int32_t xa = (int32_t)a[i] * (1 << PR_ADD_LEFT_SHIFT);
        const int32_t xb = ((int32_t)b[i] - b_zero_point) * (1 << PR_ADD_LEFT_SHIFT);
        const int32_t sa = pr_arm_fast_rq0(xa, ma, na, ca, sign_a);
        const int32_t sb = pr_arm_fast_rq0(xb, mb, nb, cb, sign_b);
        const int32_t v = pr_arm_fast_rq(sa + sb, mo, no, co);
        y[i] = (int16_t)__ssat(v, 16);
    }
}

/* Whether the fast loop applies: the clamp range is the whole int16 type (SSAT),
 * input shifts 0 or right shifts, the output's a right shift, and |sa| + |sb| < 2^30 by the bound |MBQM(x, m, -n)| <= (|x| >> n) + 1
 * (|SRDHM(x, m)| <= |x|); c receives the constants. */
PR_ARM_INLINE int32_t pr_arm_add_fast_ok(const pr_add_params *p, int32_t c[3])
{
    const int64_t zb = p->b_zero_point;
    const int64_t xa = (int64_t)1 << 30;
    const int64_t xb = sizeof(PR_ADD_B_T) == 1 ? (128 + (zb < 0 ? -zb : zb)) << 15 : xa;
    c[0] = 0;
    c[1] = 0;
    if (p->act_min != -32768 || p->act_max != 32767 ||
        !(p->a_shift == 0 || pr_arm_fast_c(p->a_shift, 0, &c[0])) ||
        !(p->b_shift == 0 || pr_arm_fast_c(p->b_shift, 0, &c[1])) ||
        !pr_arm_fast_c(p->out_shift, 0, &c[2])) {
        return 0;
    }
    return (xa >> -p->a_shift) + (xb >> -p->b_shift) + 2 < ((int64_t)1 << 30);
}

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    pr_arm_rq qa, qb, qo;
    int32_t c[3];
    const pr_status st = pr_add_check(p, a, b, y, PR_ADD_B_ZP_MIN, PR_ADD_B_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    /* zero points and clamps of the inner two are neutral: MBQM alone */
    qa = pr_arm_rq_make(p->a_multiplier, p->a_shift, 0, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    qb = pr_arm_rq_make(p->b_multiplier, p->b_shift, 0, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
    qo = pr_arm_rq_make(p->out_multiplier, p->out_shift, 0, p->act_min, p->act_max);
    if (pr_arm_add_fast_ok(p, c)) {
        PR_ARM_ADD_FAST_LOOP(p->size, a, b, p->b_zero_point, y, p, c);
    } else if (p->a_shift <= 0 && p->b_shift <= 0 && p->out_shift <= 0) {
        PR_ARM_ADD_LOOP(p->size, a, b, p->b_zero_point, y, &qa, &qb, &qo, 1);
    } else {
        PR_ARM_ADD_LOOP(p->size, a, b, p->b_zero_point, y, &qa, &qb, &qo, 0);
    }
    return PR_OK;
}
