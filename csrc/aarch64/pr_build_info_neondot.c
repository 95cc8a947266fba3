/* pr_build_info, aarch64 NEON + dot-product build: see csrc/pr_build_info.c. */
#include "pyreparam.h"

const char *pr_build_info(void)
{
    return "simd=neondot";
}
