/*
 * pr_bmm_nt_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_bmm_nt_s8.c (chosen at build time): each batch is one product of
 * pr_arm_mm_dsp.c, the zero points applied through row and column sums.
 */
#include "pr_arm_common.h"

pr_status pr_bmm_nt_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out)
{
    return pr_mm_run_bmm_nt(p, a, b, out, pr_arm_mm_nt);
}
