/* pr_build_info, AVX-512 VNNI build: see csrc/pr_build_info.c. */
#include "pyreparam.h"

const char *pr_build_info(void)
{
    return "simd=avx512vnni";
}
