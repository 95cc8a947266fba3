/* pr_build_info, Arm DSP build: see csrc/pr_build_info.c and csrc/arm/pr_arm_common.h. */
#include "pyreparam.h"

const char *pr_build_info(void)
{
    return "simd=arm-dsp";
}
