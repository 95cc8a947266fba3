/* pr_mul_s8: element-wise int8 product with zero points (GLU). */
#include "pr_check_internal.h"

pr_status pr_mul_s8(const pr_mul_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    int32_t i;
    const pr_status st = pr_mul_check(p, a, b, y);
    if (st != PR_OK) {
        return st;
    }
    for (i = 0; i < p->size; ++i) {
        const int32_t prod = ((int32_t)a[i] - p->a_zero_point) *
                             ((int32_t)b[i] - p->b_zero_point); /* |.| <= 255^2 */
        y[i] = (int8_t)pr_q_requantize(prod, p->multiplier, p->shift, p->out_zero_point,
                                       p->act_min, p->act_max);
    }
    return PR_OK;
}
