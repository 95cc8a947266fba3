/*
 * pr_bmm_nt_s8, aarch64 neondot variant: same prototype, checks and results as
 * csrc/pr_bmm_nt_s8.c (chosen at build time by csrc/build_ffi.py; product in
 * pr_a64_mm_neondot.c, one product per batch).
 */
#include "pr_a64_common.h"

pr_status pr_bmm_nt_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out)
{
    return pr_mm_run_bmm_nt(p, a, b, out, pr_a64_mm_neondot);
}
