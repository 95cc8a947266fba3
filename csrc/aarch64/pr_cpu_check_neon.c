/*
 * pr_build_cpu_ok, aarch64 NEON build: see csrc/pr_cpu_check.c. Advanced SIMD is part
 * of every aarch64 core the standard ABIs (Linux, macOS, Windows) run on, so the answer
 * is always 1.
 */
#include "pyreparam.h"

int32_t pr_build_cpu_ok(void)
{
    return 1;
}
