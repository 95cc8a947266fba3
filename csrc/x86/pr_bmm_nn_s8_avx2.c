/*
 * pr_bmm_nn_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_bmm_nn_s8.c (chosen at build time by csrc/build_ffi.py; kernel in
 * pr_x86_mm_avx2.c, one product per batch). The scratch is checked as in the
 * reference but not needed.
 */
#include "pr_x86_common.h"

pr_status pr_bmm_nn_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out, int32_t *scratch, int64_t scratch_len)
{
    return pr_mm_run_bmm_nn(p, a, b, out, scratch, scratch_len, pr_x86_avx2_mm);
}
