/* pr_requantize_s16_s8: per-tensor requantization of int16 values to int8. */
#include "pr_q_internal.h"

pr_status pr_requantize_s16_s8(const pr_requant_params *p, const int16_t *x, int8_t *y)
{
    int32_t i;
    if (p == NULL || x == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->size < 1) {
        return PR_ERR_SHAPE;
    }
    if (p->in_zero_point < -32768 || p->in_zero_point > 32767 ||
        !pr_q_multiplier_ok(p->multiplier, p->shift) ||
        !pr_q_out_range_ok(p->out_zero_point, p->act_min, p->act_max, -128, 127)) {
        return PR_ERR_PARAM;
    }
    for (i = 0; i < p->size; ++i) {
        y[i] = (int8_t)pr_q_requantize((int32_t)x[i] - p->in_zero_point, p->multiplier,
                                       p->shift, p->out_zero_point, p->act_min,
                                       p->act_max);
    }
    return PR_OK;
}
