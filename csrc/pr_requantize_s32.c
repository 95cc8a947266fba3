/* pr_requantize_s32: element-wise MBQM, the fixed-point core of every int8 kernel. */
#include "pr_q_internal.h"

pr_status pr_requantize_s32(int32_t n, const int32_t *x, const int32_t *multiplier,
                            const int32_t *shift, int32_t *y)
{
    int32_t i;
    if (x == NULL || multiplier == NULL || shift == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (n < 1) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_multipliers_ok(n, multiplier, shift)) {
        return PR_ERR_PARAM;
    }
    for (i = 0; i < n; ++i) {
        y[i] = pr_q_mbqm(x[i], multiplier[i], shift[i]);
    }
    return PR_OK;
}
