/*
 * Internal: what the x86 SIMD variants of the int8 kernels share (not public API).
 *
 * The files in csrc/x86/ are *variants*: pr_<op>_<isa>.c defines the same public
 * function as the portable reference csrc/pr_<op>.c, with the same prototype, the
 * same argument checks (the reference's own, csrc/pr_check_internal.h) and
 * bit-identical results. csrc/build_ffi.py chooses at build time which one is
 * compiled (PYREPARAM_SIMD=auto|none|avx2|avx512vnni); any other build (Cortex-M,
 * tools/sanitize.sh) compiles only the .c files of csrc/ and gets the reference.
 * The product kernels (linear, conv1d, the attention products) check their
 * arguments and describe their work as one or more matrix products (pr_mm
 * below), computed by the shared kernels pr_x86_mm_<isa>.c, which a build of that
 * level compiles once; the element-wise and row kernels (softmax, LayerNorm, the
 * residual adds, depthwise conv1d) use the lane fixed point of pr_x86_q256.h (AVX2, 8
 * lanes) or pr_x86_q512.h (AVX-512, 16 lanes).
 *
 * Variants (both levels): linear_s8, linear_s8_s16, conv1d_s8, bmm_nt_s8, bmm_nn_s8,
 *            softmax_s8, layernorm_s16_s8, add_s16, add_s16_s8, depthwise_conv1d_s8,
 *            mul_s8, lut_s8
 *
 * The instruction set is enabled per function with __attribute__((target(...)))
 * (gcc >= 4.9, clang), so no global -m flag is needed and nothing outside these
 * files can pick up AVX instructions. Everything is exact integer arithmetic: the
 * dot products are exact int32 sums, and the requantization repeats the
 * reference's integer steps lane by lane (pr_q_internal.h, reference/int8.md).
 */
#ifndef PR_X86_COMMON_H
#define PR_X86_COMMON_H

#include <string.h>

#include "pr_check_internal.h"
#include "pr_mm_internal.h"

#if !(defined(__GNUC__) || defined(__clang__)) || !(defined(__x86_64__) || defined(__i386__))
#error "csrc/x86/ needs gcc or clang on x86; build with PYREPARAM_SIMD=none"
#endif

#define PR_TARGET_AVX2 __attribute__((target("avx2")))
#define PR_TARGET_AVX512 __attribute__((target("avx2,avx512f,avx512bw,avx512vl,avx512vnni")))

/* Unaligned 32-bit load of 4 bytes (memcpy: no alignment or aliasing assumption). */
static inline int32_t pr_x86_load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first n < 4 bytes of p in the low bytes of a word, the other bytes `fill`. */
static inline int32_t pr_x86_load32_tail(const int8_t *p, int32_t n, int8_t fill)
{
    int8_t b[4];
    int32_t v;
    int32_t q;
    for (q = 0; q < 4; ++q) {
        b[q] = q < n ? p[q] : fill;
    }
    memcpy(&v, b, sizeof v);
    return v;
}

/* The product's descriptor pr_mm and its builders: pr_mm_internal.h. */

/* pr_x86_mm_avx512vnni.c: the product on AVX-512 VNNI (b_kn 0 or 1). */
void pr_x86_avx512_mm(const pr_mm *m);

/* pr_x86_mm_avx2.c: the product on AVX2 (b_kn 0 or 1). */
void pr_x86_avx2_mm(const pr_mm *m);

/* conv1d's frames with padded taps: pr_mm_conv1d_edges (pr_mm_internal.h). */

#endif /* PR_X86_COMMON_H */
