/*
 * pr_conv1d_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_conv1d_s8.c (chosen at build time by csrc/build_ffi.py). The output frames
 * whose window lies inside x are the rows of one product (pr_x86_mm_avx2.c, rows
 * overlapping when stride < kernel); the few frames with padded taps are another
 * product or two (pr_mm_conv1d_edges, pr_mm_internal.h).
 */
#include "pr_x86_common.h"

pr_status pr_conv1d_s8(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y)
{
    return pr_mm_run_conv1d(p, x, w, bias, multiplier, shift, y, pr_x86_avx2_mm);
}
