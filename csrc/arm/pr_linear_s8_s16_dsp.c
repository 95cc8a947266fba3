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
    const pr_status st = pr_linear_check(p, x, w, multiplier, shift, y, -32768, 32767,
                                         0, 0);
    if (st != PR_OK) {
        return st;
    }
    m = pr_mm_linear(p, x, w, bias, multiplier, shift, y, 2);
    pr_arm_mm_nt(&m);
    return PR_OK;
}
