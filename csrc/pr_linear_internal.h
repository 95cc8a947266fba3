/*
 * Internal: the fully connected kernel shared by pr_linear_s8 / pr_linear_s8_s16
 * (not public API). The including file defines PR_LINEAR_NAME, PR_LINEAR_OUT_T,
 * PR_LINEAR_OUT_MIN / _MAX and PR_LINEAR_ZP_MIN / _MAX (the allowed output zero
 * points). NumPy reference: pyreparam.quant.qlinear.linear_s8.
 */
#include "pr_check_internal.h"

pr_status PR_LINEAR_NAME(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                         const int32_t *bias, const int32_t *multiplier,
                         const int32_t *shift, PR_LINEAR_OUT_T *y)
{
    int64_t t, c;
    const pr_status st = pr_linear_check(p, x, w, multiplier, shift, y, PR_LINEAR_OUT_MIN,
                                         PR_LINEAR_OUT_MAX, PR_LINEAR_ZP_MIN,
                                         PR_LINEAR_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    for (t = 0; t < p->rows; ++t) {
        const int8_t *xt = x + t * p->in_features;
        PR_LINEAR_OUT_T *yt = y + t * p->out_features;
        for (c = 0; c < p->out_features; ++c) {
            const int32_t dot = pr_q_dot_s8(p->in_features, xt, w + c * p->in_features);
            const int32_t acc = bias != NULL ? pr_q_add_sat32(dot, bias[c]) : dot;
            yt[c] = (PR_LINEAR_OUT_T)pr_q_requantize(acc, multiplier[c], shift[c],
                                                     p->out_zero_point, p->act_min,
                                                     p->act_max);
        }
    }
    return PR_OK;
}
