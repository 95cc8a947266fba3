/*
 * pr_bmm_nt_s8, AVX-512 VNNI variant: same prototype, checks and results as
 * csrc/pr_bmm_nt_s8.c (chosen at build time by csrc/build_ffi.py; kernel in
 * pr_x86_mm_avx512vnni.c, one product per batch).
 */
#include "pr_x86_common.h"

pr_status pr_bmm_nt_s8(const pr_bmm_params *p, const int8_t *a, const int8_t *b,
                       int8_t *out)
{
    return pr_mm_run_bmm_nt(p, a, b, out, pr_x86_avx512_mm);
}
