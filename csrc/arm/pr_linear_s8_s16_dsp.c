/*
 * pr_linear_s8_s16, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_linear_s8_s16.c (chosen at build time; product in pr_arm_mm_dsp.c).
 */
#include "pr_arm_common.h"

pr_status pr_linear_s8_s16(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                           const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int16_t *y)
{
    pr_mm m;
    int32_t uniform;
    const pr_status st = pr_linear_check_args(p, x, w, multiplier, shift, y, -32768, 32767,
                                              0, 0);
    if (st != PR_OK) {
        return st;
    }
    if (!pr_arm_multipliers_ok(p->out_features, multiplier, shift, &uniform)) {
        return PR_ERR_PARAM;
    }
    if (p->rows == 1 && uniform &&
        pr_arm_linear_row(p, x, w, bias, multiplier, shift[0], y, 16)) {
        return PR_OK;
    }
    m = pr_mm_linear(p, x, w, bias, multiplier, shift, y, 2);
    pr_arm_mm_nt_uniform(&m, uniform);
    return PR_OK;
}
