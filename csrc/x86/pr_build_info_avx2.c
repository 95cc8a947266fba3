/* pr_build_info, AVX2 build: see csrc/pr_build_info.c. */
#include "pyreparam.h"

const char *pr_build_info(void)
{
    return "simd=avx2";
}
