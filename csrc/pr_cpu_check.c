/*
 * pr_build_cpu_ok: whether this CPU runs the instructions this build compiled. The
 * portable reference needs nothing beyond C99: always 1. csrc/x86/pr_cpu_check_<isa>.c
 * replaces this file in an x86 SIMD build (csrc/build_ffi.py) and asks the CPU.
 */
#include "pyreparam.h"

int32_t pr_build_cpu_ok(void)
{
    return 1;
}
