/*
 * pr_build_cpu_ok, AVX2 build: see csrc/pr_cpu_check.c. GCC's / clang's CPU model
 * (CPUID, and for AVX the OS's saving of the YMM state) says whether the variants'
 * instructions run here; this function itself uses none of them.
 */
#include "pyreparam.h"

int32_t pr_build_cpu_ok(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") ? 1 : 0;
}
