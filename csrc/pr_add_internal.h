/*
 * Internal: the residual add shared by pr_add_s16 / pr_add_s16_s8 (not public API).
 * The including file defines PR_ADD_NAME, PR_ADD_B_T and PR_ADD_B_ZP_MIN / _MAX.
 * NumPy reference: pyreparam.quant.qelementwise.add_s16 (TFLite's int16 ADD).
 */
#include "pr_check_internal.h"

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    int32_t i;
    const pr_status st = pr_add_check(p, a, b, y, PR_ADD_B_ZP_MIN, PR_ADD_B_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < p->size; ++i) {
        /* |a 2^15| <= 2^30 and |(b - zb) 2^15| <= 2^23 fit int32 */
        const int32_t sa = pr_q_mbqm((int32_t)a[i] * (1 << PR_ADD_LEFT_SHIFT),
                                     p->a_multiplier, p->a_shift);
        const int32_t sb = pr_q_mbqm(((int32_t)b[i] - p->b_zero_point) *
                                         (1 << PR_ADD_LEFT_SHIFT),
                                     p->b_multiplier, p->b_shift);
        const int32_t sum = pr_q_add_sat32(sa, sb);
        y[i] = (int16_t)pr_q_requantize(sum, p->out_multiplier, p->out_shift, 0,
                                        p->act_min, p->act_max);
    }
    return PR_OK;
}
