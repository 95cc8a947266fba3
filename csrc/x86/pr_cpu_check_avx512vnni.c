/*
 * pr_build_cpu_ok, AVX-512 VNNI build: see csrc/pr_cpu_check.c. The build also holds
 * AVX2 variants (csrc/build_ffi.py: every level <= the build's), so both are required.
 */
#include "pyreparam.h"

int32_t pr_build_cpu_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("avx512f") &&
                   __builtin_cpu_supports("avx512bw") &&
                   __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("avx512vnni")
               ? 1
               : 0;
}
