/*
 * pr_build_info: which variant of the int8 kernels this build compiled. This file is
 * the portable reference's answer; csrc/x86/pr_build_info_<isa>.c replaces it when
 * csrc/build_ffi.py selects the x86 variants (PYREPARAM_SIMD).
 */
#include "pyreparam.h"

const char *pr_build_info(void)
{
    return "simd=none";
}
