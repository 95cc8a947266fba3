/*
 * pr_build_cpu_ok, aarch64 NEON + dot-product build: see csrc/pr_cpu_check.c. The
 * dot-product instructions (SDOT, Armv8.2-A FEAT_DotProd) are optional: the kernel
 * says whether the cores have them (Linux: the HWCAP_ASIMDDP bit of the auxiliary
 * vector; macOS: hw.optional.arm.FEAT_DotProd). Elsewhere the answer is 0 (the build
 * refuses to run rather than risk an illegal instruction): build with
 * PYREPARAM_SIMD=neon there.
 */
#if defined(__linux__)
#include <sys/auxv.h>
#elif defined(__APPLE__)
#include <stddef.h>
#include <sys/sysctl.h>
#endif

#include "pyreparam.h"

int32_t pr_build_cpu_ok(void)
{
#if defined(__linux__)
    return (getauxval(AT_HWCAP) >> 20) & 1 ? 1 : 0;   /* HWCAP_ASIMDDP = 1 << 20 */
#elif defined(__APPLE__)
    int value = 0;
    size_t size = sizeof value;
    return sysctlbyname("hw.optional.arm.FEAT_DotProd", &value, &size, NULL, 0) == 0 &&
                   value != 0
               ? 1
               : 0;
#else
    return 0;
#endif
}
