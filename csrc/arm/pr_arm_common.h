/*
 * Internal: what the Arm DSP variants of the int8 kernels share (not public API).
 *
 * The files csrc/arm/pr_<op>_dsp.c are *variants*: each defines the same public
 * function as the portable reference csrc/pr_<op>.c, with the same prototype, the
 * same argument checks (the reference's own, csrc/pr_check_internal.h) and
 * bit-identical results. They need the Armv7E-M DSP extension (Cortex-M4, M7, M33
 * with DSP...): the dot products use SXTB16 (two int8 lanes sign-extended to int16)
 * and SMLAD (two 16 x 16 products added to an int32 accumulator), the saturating add
 * QADD. A build chooses them instead of the reference files (tools/mcu/build.sh lib
 * TARGET dsp); every other build (the Python extension, tools/build_c.sh, Cortex-M3)
 * compiles only the reference files of csrc/.
 *
 * Exactness: every dot product is an exact int32 sum (|sum| < 2^31 by the depth
 * limit), whatever the order of its terms, so the 2 x 2 register blocking and the
 * lane pairing change nothing; zero points are applied through the exact identity
 *   sum (a - za)(b - zb) = sum a b - zb sum a - za sum b + K za zb   (mod 2^32),
 * whose left side fits int32; requantization (pr_arm_requantize) is an equivalent
 * but shorter formulation of the reference's integer steps, proved in its comment
 * and tested against the reference on-device (tools/mcu/kernel_test.c).
 */
#ifndef PR_ARM_COMMON_H
#define PR_ARM_COMMON_H

#include <string.h>

#include "pr_check_internal.h"
#include "pr_mm_internal.h"

#if !defined(__ARM_FEATURE_DSP) || !defined(__ARM_FEATURE_SIMD32)
#error "csrc/arm/ needs an Arm core with the DSP extension (e.g. -mcpu=cortex-m4)"
#endif
#include <arm_acle.h>

#define PR_ARM_INLINE static inline __attribute__((always_inline))

/* 4 bytes from any address (unaligned LDR: Armv7-M allows it for normal memory). */
PR_ARM_INLINE int32_t pr_arm_load32(const int8_t *p)
{
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Bytes 0 and 2 of v as two int16 lanes, and bytes 1 and 3 (SXTB16, SXTB16 ROR #8). */
PR_ARM_INLINE int32_t pr_arm_even(int32_t v)
{
    return __sxtb16(v);
}

PR_ARM_INLINE int32_t pr_arm_odd(int32_t v)
{
    int32_t r;   /* one instruction; gcc 12 emits a separate ROR for __sxtb16(ror(v)) */
    __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
    return r;
}

/* sum of the n bytes at p (signed), via USADA8 on the bytes biased to unsigned. */
PR_ARM_INLINE int32_t pr_arm_sum_s8(int32_t n, const int8_t *p)
{
    uint32_t acc = 0;
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        acc = __usada8((uint32_t)pr_arm_load32(p + k) ^ 0x80808080u, 0, acc);
    }
    for (; k < n; ++k) {
        acc += (uint32_t)((int32_t)p[k] + 128);
    }
    return (int32_t)(acc - 128u * (uint32_t)n);
}

/* sum_k a[k] b[k] over n int8 pairs. */
PR_ARM_INLINE int32_t pr_arm_dot_1x1(int32_t n, const int8_t *a, const int8_t *b)
{
    int32_t acc = 0;
    int32_t k = 0;
    for (; k + 4 <= n; k += 4) {
        const int32_t x = pr_arm_load32(a + k);
        const int32_t w = pr_arm_load32(b + k);
        acc = __smlad(pr_arm_even(x), pr_arm_even(w), acc);
        acc = __smlad(pr_arm_odd(x), pr_arm_odd(w), acc);
    }
    for (; k < n; ++k) {
        acc += (int32_t)a[k] * (int32_t)b[k];
    }
    return acc;
}

/*
 * Requantization, bit-identical to pr_q_requantize for multiplier != INT32_MIN
 * (every caller has checked its multipliers: >= 0, or != INT32_MIN for LayerNorm):
 *   SRDHM(x, m) = trunc((x m + nudge) / 2^31), nudge = 2^30 or 1 - 2^30 by the sign
 *   of x m, equals floor((x m + 2^30) / 2^31) for both signs (for x m < 0 the
 *   truncation is a ceiling, and ceil((N) / 2^31) = floor((N + 2^31 - 1) / 2^31)
 *   with N = x m + 1 - 2^30); the saturating case x = m = INT32_MIN cannot occur.
 *   That value fits int32, so it is bits 31..62 of the 64-bit x m + 2^30 (SMLAL).
 *   RDBP and the left shift are the reference's; zero point + clamp: QADD saturates
 *   where the reference adds in 64 bits, and any saturated value is clamped to the
 *   same bound.
 */
/* MBQM for a shift -n <= 0 (no left shift); mask = 2^n - 1, half = mask >> 1. */
PR_ARM_INLINE int32_t pr_arm_mbqm_right(int32_t x, int32_t multiplier, int32_t n,
                                        int32_t mask, int32_t half)
{
    const int32_t r = (int32_t)(((int64_t)x * multiplier + ((int64_t)1 << 30)) >> 31);
    const int32_t threshold = half + (int32_t)((uint32_t)r >> 31);   /* + (r < 0) */
    return (r >> n) + ((r & mask) > threshold ? 1 : 0);
}

PR_ARM_INLINE int32_t pr_arm_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    int32_t n = -shift;
    int32_t mask;
    if (shift > 0) {
        const int64_t scaled = (int64_t)x * ((int64_t)1 << shift);
        x = pr_q_clamp64(scaled, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
        n = 0;
    }
    mask = (int32_t)(((uint32_t)1 << n) - 1u);
    return pr_arm_mbqm_right(x, multiplier, n, mask, mask >> 1);
}

PR_ARM_INLINE int32_t pr_arm_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                                        int32_t zero_point, int32_t act_min,
                                        int32_t act_max)
{
    const int32_t v = __qadd(pr_arm_mbqm(acc, multiplier, shift), zero_point);
    return v < act_min ? act_min : (v > act_max ? act_max : v);
}

/*
 * Requantization in four instructions (the products' and the residual adds' fast
 * paths), for -2^30 <= x < 2^30, multiplier m >= 0 and a right shift n >= 1 (shift = -n):
 *   pr_q_requantize(x, m, -n, zp, .., ..) before its clamp
 *     = SMMLAR(2 x, m, c - [x < 0]) >> n,   c = 2^(n-1) + zp 2^n,   |c| < 2^30.
 * Proof. SRDHM(x, m) = r = floor((x m + 2^30) / 2^31) (see above), and the rounding
 * shift is RDBP(r, n) = floor((r + 2^(n-1) - [r < 0]) / 2^n) (with r = q 2^n + f,
 * 0 <= f < 2^n: one is added to q iff f > 2^(n-1) - 1 + [r < 0], the reference's
 * remainder / threshold test). [r < 0] may be replaced by [x < 0]: they differ only
 * when x < 0 <= r, and then -2^30 <= x m <= 0 gives r = 0, which rounds to 0 either
 * way (n >= 1). With s = [x < 0], nested floors give
 *   floor((r + 2^(n-1) - s) / 2^n) + zp = floor((r + c - s) / 2^n)   (c as above),
 *   r + c - s = floor((2 x m + 2^31 + (c - s) 2^32) / 2^32) = SMMLAR(2 x, m, c - s),
 * where SMMLAR(a, b, acc) = floor((acc 2^32 + a b + 2^31) / 2^32). Ranges: 2 x fits
 * int32, -2^30 <= floor((2 x m + 2^31) / 2^32) < 2^30 and -2^30 <= c - s < 2^30, so
 * the result fits int32; the zero-point add cannot saturate, so adding it before the
 * shift is the reference's saturating add. tools/mcu/kernel_test.c checks the
 * formula against pr_q_requantize on the device.
 */
PR_ARM_INLINE int32_t pr_arm_smmlar(int32_t a, int32_t b, int32_t acc)
{
    int32_t r;
    __asm__("smmlar %0, %1, %2, %3" : "=r"(r) : "r"(a), "r"(b), "r"(acc));
    return r;
}

/* The constant c = 2^(n-1) + zp 2^n = (2 zp + 1) 2^(n-1) of the fast requantization, or
 * 0 when the shift is not a right shift (n >= 1) or |c| >= 2^30 (then the general path
 * applies). One 64-bit product: no shifts of 64-bit values by a variable amount. */
static inline int32_t pr_arm_fast_c(int32_t shift, int32_t zero_point, int32_t *c)
{
    int64_t v;
    if (shift > -1 || shift < PR_Q_SHIFT_MIN) {
        return 0;
    }
    v = ((int64_t)zero_point * 2 + 1) * (int64_t)((int32_t)1 << (-shift - 1));
    if (v <= -((int64_t)1 << 30) || v >= ((int64_t)1 << 30)) {
        return 0;
    }
    *c = (int32_t)v;
    return 1;
}

/* MBQM(x, m, -n) + zp (no clamp) for -2^30 <= x < 2^30, m >= 0, n >= 1, c from
 * pr_arm_fast_c. */
PR_ARM_INLINE int32_t pr_arm_fast_rq(int32_t x, int32_t m, int32_t n, int32_t c)
{
    return pr_arm_smmlar(x * 2, m, c + (x >> 31)) >> n;
}

/* The same with the shift n = 0 allowed (then MBQM is SRDHM alone, SMMLAR(2 x, m, zp):
 * no sign term): sign = -1 when n >= 1, 0 when n = 0; c = zp when n = 0. */
PR_ARM_INLINE int32_t pr_arm_fast_rq0(int32_t x, int32_t m, int32_t n, int32_t c,
                                      int32_t sign)
{
    return pr_arm_smmlar(x * 2, m, c + ((x >> 31) & sign)) >> n;
}

/* The same for |x| < 2^30 and a multiplier of either sign (m != INT32_MIN): the
 * proof holds with the sign term [x m < 0], for which (x ^ m) < 0 may stand: they
 * differ only when x m = 0, and then r = 0 rounds to 0 either way. */
PR_ARM_INLINE int32_t pr_arm_fast_rq_signed(int32_t x, int32_t m, int32_t n, int32_t c)
{
    return pr_arm_smmlar(x * 2, m, c + ((x ^ m) >> 31)) >> n;
}

/* The product's descriptor pr_mm and its builders: pr_mm_internal.h (b_kn must be 0
 * here: the Arm product reads B as (cols, depth) rows). */

/* pr_arm_mm_dsp.c: the product m; pr_arm_mm_nt_uniform when the caller knows whether
 * every column's shift is one value <= 0 (uniform; pr_arm_multipliers_ok). */
void pr_arm_mm_nt(const pr_mm *m);
void pr_arm_mm_nt_uniform(const pr_mm *m, int32_t uniform);
/* A linear layer of one row (a classifier's), int8 (bits 8) or int16 (bits 16) out, when
 * every channel has the right shift -shift >= 1 and the fast conditions of the few-rows
 * path hold (whole output range, depth a multiple of 4, biases bounded): y written, 1;
 * else 0 and nothing written. Without the general product's setup: a pooled vector's
 * classifier is a few hundred instructions, most of them setup. */
int32_t pr_arm_linear_row(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                          const int32_t *bias, const int32_t *multiplier, int32_t shift,
                          void *y, int32_t bits);

/*
 * pr_q_multipliers_ok(n, multiplier, shift), the last check of pr_linear_check, in one
 * pass that also finds whether every shift equals shift[0]: then the pairs are valid
 * iff no multiplier is negative (no sign bit in their OR) and shift[0] is in range;
 * otherwise the reference's check decides. *uniform: every shift equal and <= 0.
 */
static inline int32_t pr_arm_multipliers_ok(int32_t n, const int32_t *multiplier,
                                            const int32_t *shift, int32_t *uniform)
{
    const int32_t s0 = shift[0];
    uint32_t negative = 0, differ = 0;
    int32_t j;
    for (j = 0; j < n; ++j) {
        negative |= (uint32_t)multiplier[j];
        differ |= (uint32_t)(shift[j] ^ s0);
    }
    if (differ != 0) {
        *uniform = 0;
        return pr_q_multipliers_ok(n, multiplier, shift);
    }
    *uniform = s0 <= 0;
    return (negative >> 31) == 0 && s0 >= PR_Q_SHIFT_MIN && s0 <= PR_Q_SHIFT_MAX;
}

/* One per-tensor requantization with its rounding constants computed once. */
typedef struct {
    int32_t multiplier;
    int32_t shift;
    int32_t right;      /* -shift when shift <= 0 */
    int32_t mask;       /* 2^right - 1 */
    int32_t half;       /* mask >> 1 */
    int32_t zero_point;
    int32_t act_min;
    int32_t act_max;
} pr_arm_rq;

static inline pr_arm_rq pr_arm_rq_make(int32_t multiplier, int32_t shift, int32_t zero_point,
                                       int32_t act_min, int32_t act_max)
{
    pr_arm_rq q;
    q.multiplier = multiplier;
    q.shift = shift;
    q.right = shift > 0 ? 0 : -shift;
    q.mask = (int32_t)(((uint32_t)1 << q.right) - 1u);
    q.half = q.mask >> 1;
    q.zero_point = zero_point;
    q.act_min = act_min;
    q.act_max = act_max;
    return q;
}

/* pr_q_requantize(acc, multiplier, shift, zero_point, act_min, act_max). */
PR_ARM_INLINE int32_t pr_arm_rq_apply(const pr_arm_rq *q, int32_t acc)
{
    const int32_t m = q->shift > 0 ? pr_arm_mbqm(acc, q->multiplier, q->shift)
                                   : pr_arm_mbqm_right(acc, q->multiplier, q->right,
                                                       q->mask, q->half);
    const int32_t v = __qadd(m, q->zero_point);
    return v < q->act_min ? q->act_min : (v > q->act_max ? q->act_max : v);
}

#endif /* PR_ARM_COMMON_H */
