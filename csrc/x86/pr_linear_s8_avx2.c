/*
 * pr_linear_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_linear_s8.c (chosen at build time by csrc/build_ffi.py; kernel in
 * pr_x86_mm_avx2.c).
 */
#include "pr_x86_common.h"

pr_status pr_linear_s8(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y)
{
    return pr_mm_run_linear(p, x, w, bias, multiplier, shift, y, 1, pr_x86_avx2_mm);
}
