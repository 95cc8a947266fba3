/*
 * Internal: what the aarch64 NEON variants of the int8 kernels share (not public API).
 *
 * The files in csrc/aarch64/ are *variants*: pr_<op>_<level>.c defines the same public
 * function as the portable reference csrc/pr_<op>.c, with the same prototype, the same
 * argument checks (the reference's own, csrc/pr_check_internal.h) and bit-identical
 * results. csrc/build_ffi.py chooses at build time which one is compiled
 * (PYREPARAM_SIMD=neon|neondot, or auto on an aarch64 machine; tools/aarch64/ for cross
 * builds); every other build compiles only the .c files of csrc/.
 *
 * Levels: "neon" needs only the Advanced SIMD instructions every Armv8-A core has
 * (Cortex-A53 / A72 of the Raspberry Pi 3 / 4); "neondot" adds the dot-product
 * instruction SDOT (Armv8.2-A FEAT_DotProd: Cortex-A55 / A76 of the Raspberry Pi 5,
 * Neoverse N1, Apple M1), enabled per function (PR_TARGET_DOT) in the product file of
 * that level only, and checked at load time (pr_cpu_check_neondot.c).
 *
 * Variants: linear_s8, linear_s8_s16, conv1d_s8, bmm_nt_s8, bmm_nn_s8 (both levels:
 * the product pr_a64_mm_<level>.c, pr_a64_mm_impl.h); add_s16, add_s16_s8,
 * layernorm_s16_s8, softmax_s8, lut_s8, mul_s8, depthwise_conv1d_s8 (neon, used by both
 * levels).
 *
 * Everything is exact integer arithmetic: the dot products are exact int32 sums, and
 * the requantization repeats the reference's integer steps lane by lane with
 * instructions that compute exactly those steps (pr_a64_mbqm below; reference/int8.md,
 * reference/int8_aarch64.md).
 */
#ifndef PR_A64_COMMON_H
#define PR_A64_COMMON_H

#include <string.h>

#include "pr_check_internal.h"
#include "pr_mm_internal.h"

#if !defined(__aarch64__) || !(defined(__GNUC__) || defined(__clang__))
#error "csrc/aarch64/ needs gcc or clang targeting aarch64; build with PYREPARAM_SIMD=none"
#endif

#include <arm_neon.h>

#define PR_A64_INLINE static inline __attribute__((always_inline))

/* The dot-product instructions for one function (gcc's arm_neon.h declares vdotq_s32
 * under this exact target; clang names the feature alone). */
#if defined(__clang__)
#define PR_TARGET_DOT __attribute__((target("dotprod")))
#else
#define PR_TARGET_DOT __attribute__((target("arch=armv8.2-a+dotprod")))
#endif

/* pr_a64_mm_neon.c / pr_a64_mm_neondot.c: the product (pr_mm_internal.h) of a level. */
void pr_a64_mm_neon(const pr_mm *m);
void pr_a64_mm_neondot(const pr_mm *m);

/* ---- requantization on 4 int32 lanes -------------------------------------------- */

/* The per-lane constants of MBQM(., m, e): m, max(e, 0) and -max(-e, 0). */
typedef struct {
    int32x4_t mult;
    int32x4_t left;
    int32x4_t neg_right;
} pr_a64_mbqm_c;

PR_A64_INLINE pr_a64_mbqm_c pr_a64_mbqm_consts(int32x4_t mult, int32x4_t shift)
{
    pr_a64_mbqm_c c;
    c.mult = mult;
    c.left = vmaxq_s32(shift, vdupq_n_s32(0));
    c.neg_right = vminq_s32(shift, vdupq_n_s32(0));
    return c;
}

/*
 * RDBP(h, n) = h / 2^n rounded to nearest, ties away from zero (pr_q_rdbp), lane by lane,
 * with neg_n = -n (0 <= n <= 31). SRSHL by -n is floor((h + 2^(n-1)) / 2^n) (ties up,
 * computed without overflow); with h = q 2^n + f (0 <= f < 2^n) the reference adds one
 * to q iff f > 2^(n-1) - 1 + [h < 0], and SRSHL of h - [h < 0] adds one iff
 * f - [h < 0] >= 2^(n-1): the same. The -1 is applied only when n >= 1 (the sign bit of h
 * AND -n); h = INT32_MIN saturates instead (SQADD) and still gives q, its remainder being
 * 0. With n = 0 everything is the identity.
 */
PR_A64_INLINE int32x4_t pr_a64_rdbp(int32x4_t h, int32x4_t neg_n)
{
    h = vqaddq_s32(h, vshrq_n_s32(vandq_s32(h, neg_n), 31));
    return vrshlq_s32(h, neg_n);
}

/* The same in two instructions when every lane has n >= 1 and h > INT32_MIN: SSRA #31
 * adds h >> 31 = -[h < 0] without wrapping. */
PR_A64_INLINE int32x4_t pr_a64_rdbp_right(int32x4_t h, int32x4_t neg_n)
{
    return vrshlq_s32(vsraq_n_s32(h, h, 31), neg_n);
}

/*
 * MBQM(x, m, e) = RDBP(SRDHM(sat32(x 2^left), m), right), lane by lane, any m:
 *   SQSHL by left (0 .. 30) is sat32(x 2^left);
 *   SQRDMULH(s, m) = sat((2 s m + 2^31) >> 32) = floor((s m + 2^30) / 2^31), which is
 *     SRDHM: for s m >= 0 the reference's truncation of a non-negative number is the
 *     floor; for s m < 0 it truncates N = s m + 1 - 2^30 < 0, a ceiling, and
 *     ceil(N / 2^31) = floor((N + 2^31 - 1) / 2^31) = floor((s m + 2^30) / 2^31); both
 *     saturate exactly at s = m = INT32_MIN (to INT32_MAX);
 *   RDBP by pr_a64_rdbp.
 * `left`: 0 when no lane has e > 0 (the SQSHL is skipped).
 */
PR_A64_INLINE int32x4_t pr_a64_mbqm(const pr_a64_mbqm_c *c, int32x4_t x, int32_t left)
{
    if (left) {
        x = vqshlq_s32(x, c->left);
    }
    return pr_a64_rdbp(vqrdmulhq_s32(x, c->mult), c->neg_right);
}

/* clamp(MBQM(x) + zp, lo, hi): SQADD then the clamp, equal to the reference's 64-bit
 * add and clamp because [lo, hi] lies inside int32. */
PR_A64_INLINE int32x4_t pr_a64_requantize(const pr_a64_mbqm_c *c, int32x4_t x, int32_t left,
                                          int32x4_t zp, int32x4_t lo, int32x4_t hi)
{
    const int32x4_t y = vqaddq_s32(pr_a64_mbqm(c, x, left), zp);
    return vminq_s32(vmaxq_s32(y, lo), hi);
}

/*
 * A per-tensor MBQM(., m, e) with m >= 0, in the fewest instructions for its kind of
 * shift: e = 0 is SQRDMULH alone; e <= -1 is SQRDMULH and pr_a64_rdbp_right (h >
 * INT32_MIN because m >= 0 gives x m + 2^30 >= -2^62 + 2^31 + 2^30); e > 0 is SQSHL then
 * SQRDMULH (RDBP by 0 is the identity).
 */
enum { PR_A64_E_ZERO = 0, PR_A64_E_RIGHT = 1, PR_A64_E_LEFT = 2 };

typedef struct {
    pr_a64_mbqm_c q;    /* for pr_a64_mbqm (any kind) */
    int32_t kind;
} pr_a64_mbqm1_c;

static inline pr_a64_mbqm1_c pr_a64_mbqm1_consts(int32_t multiplier, int32_t shift)
{
    pr_a64_mbqm1_c c;
    c.q = pr_a64_mbqm_consts(vdupq_n_s32(multiplier), vdupq_n_s32(shift));
    c.kind = shift == 0 ? PR_A64_E_ZERO : (shift < 0 ? PR_A64_E_RIGHT : PR_A64_E_LEFT);
    return c;
}

/* MBQM(x, m, e) in the form of `kind` (a constant in the callers, which compile a
 * loop per kind; -1: pr_a64_mbqm, any shift). */
PR_A64_INLINE int32x4_t pr_a64_mbqm1(const pr_a64_mbqm1_c *c, int32x4_t x, int32_t kind)
{
    int32x4_t h;
    if (kind < 0) {
        return pr_a64_mbqm(&c->q, x, 1);
    }
    if (kind == PR_A64_E_LEFT) {
        x = vqshlq_s32(x, c->q.left);
    }
    h = vqrdmulhq_s32(x, c->q.mult);
    return kind == PR_A64_E_RIGHT ? pr_a64_rdbp_right(h, c->q.neg_right) : h;
}

/*
 * RDBP64(x v, n) for |x| < 2^31, 0 <= v <= 2^32 - 1 and 1 <= n <= 63 whose result fits
 * int32 (LayerNorm's z = RDBP64(xc inv, n)): sign(x) floor((|x| v + 2^(n-1)) / 2^n),
 * RDBP being symmetric (ties away from zero); |x| v < 2^63 by UMULL, the rounding shift
 * by URSHL (no overflow), the low words by XTN, the sign restored by (z ^ s) - s with s =
 * x >> 31. neg_n = -n in both 64-bit lanes.
 */
PR_A64_INLINE int32x4_t pr_a64_rdbp64_mul(int32x4_t x, uint32x2_t v, int64x2_t neg_n)
{
    const uint32x4_t a = vreinterpretq_u32_s32(vabsq_s32(x));   /* |INT32_MIN| as 2^31 */
    const uint64x2_t lo = vrshlq_u64(vmull_u32(vget_low_u32(a), v), neg_n);
    const uint64x2_t hi = vrshlq_u64(vmull_high_u32(a, vcombine_u32(v, v)), neg_n);
    const int32x4_t z = vreinterpretq_s32_u32(vmovn_high_u64(vmovn_u64(lo), hi));
    const int32x4_t s = vshrq_n_s32(x, 31);                    /* -1 where x < 0 */
    return vsubq_s32(veorq_s32(z, s), s);
}

#endif /* PR_A64_COMMON_H */
