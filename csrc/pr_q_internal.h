/*
 * Internal: fixed-point arithmetic and argument checks shared by the int8 kernels
 * (not public API). The NumPy reference is pyreparam/quant/fixedpoint.py; the
 * arithmetic is written out in reference/int8.md.
 *
 * Requires two's complement integers with an arithmetic right shift of negative
 * values (gcc, clang, armcc and IAR all do this); the typedef below refuses to
 * compile elsewhere.
 */
#ifndef PR_Q_INTERNAL_H
#define PR_Q_INTERNAL_H

#include "pyreparam.h"

typedef char pr_q_requires_arithmetic_right_shift[((-1 >> 1) == -1) ? 1 : -1];

#define PR_Q_INT32_MIN ((int32_t)(-2147483647 - 1))
#define PR_Q_INT32_MAX ((int32_t)2147483647)

static inline int32_t pr_q_min32(int32_t a, int32_t b) { return a < b ? a : b; }
static inline int32_t pr_q_max32(int32_t a, int32_t b) { return a > b ? a : b; }

/* Clamp an int64 to [lo, hi]. */
static inline int32_t pr_q_clamp64(int64_t x, int32_t lo, int32_t hi)
{
    return x < lo ? lo : (x > hi ? hi : (int32_t)x);
}

/*
 * Saturating rounding doubling high multiply (gemmlowp): (a b + nudge) / 2^31 with
 * C division (toward zero), nudge = 2^30 if a b >= 0 else 1 - 2^30. Rounds a b / 2^31
 * to nearest, ties toward +infinity. a = b = INT32_MIN saturates to INT32_MAX.
 */
static inline int32_t pr_q_srdhm(int32_t a, int32_t b)
{
    int64_t ab;
    int64_t nudge;
    if (a == PR_Q_INT32_MIN && b == PR_Q_INT32_MIN) {
        return PR_Q_INT32_MAX;
    }
    ab = (int64_t)a * (int64_t)b;
    nudge = ab >= 0 ? ((int64_t)1 << 30) : (1 - ((int64_t)1 << 30));
    return (int32_t)((ab + nudge) / ((int64_t)1 << 31));
}

/* x / 2^n rounded to nearest, ties away from zero; 0 <= n <= 31 (gemmlowp). */
static inline int32_t pr_q_rdbp(int32_t x, int32_t n)
{
    const int32_t mask = (int32_t)(((int64_t)1 << n) - 1);
    const int32_t remainder = x & mask;
    const int32_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> n) + (remainder > threshold ? 1 : 0);
}

/* The same on int64, 0 <= n <= 62. */
static inline int64_t pr_q_rdbp64(int64_t x, int32_t n)
{
    const int64_t mask = ((int64_t)1 << n) - 1;
    const int64_t remainder = x & mask;
    const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
    return (x >> n) + (remainder > threshold ? 1 : 0);
}

/*
 * MBQM(x, m, e) = RDBP(SRDHM(sat32(x * 2^max(e,0)), m), max(-e,0)), e in [-31, 30].
 * The left shift saturates (TFLite leaves its overflow undefined).
 */
static inline int32_t pr_q_mbqm(int32_t x, int32_t multiplier, int32_t shift)
{
    const int32_t left = shift > 0 ? shift : 0;
    const int32_t right = shift > 0 ? 0 : -shift;
    const int64_t scaled = (int64_t)x * ((int64_t)1 << left);
    return pr_q_rdbp(pr_q_srdhm(pr_q_clamp64(scaled, PR_Q_INT32_MIN, PR_Q_INT32_MAX),
                                multiplier), right);
}

/* clamp(MBQM(acc) + zero_point, act_min, act_max), the add in int64. */
static inline int32_t pr_q_requantize(int32_t acc, int32_t multiplier, int32_t shift,
                                      int32_t zero_point, int32_t act_min, int32_t act_max)
{
    const int64_t y = (int64_t)pr_q_mbqm(acc, multiplier, shift) + zero_point;
    return pr_q_clamp64(y, act_min, act_max);
}

/* int32 accumulator + int32 bias, saturated (never wraps). */
static inline int32_t pr_q_add_sat32(int32_t a, int32_t b)
{
    return pr_q_clamp64((int64_t)a + b, PR_Q_INT32_MIN, PR_Q_INT32_MAX);
}

/* sum_k x[k] w[k], n <= PR_Q_MAX_DEPTH: the int8 x int8 -> int32 loop gcc -O3 vectorizes. */
static inline int32_t pr_q_dot_s8(int32_t n, const int8_t *x, const int8_t *w)
{
    int32_t acc = 0;
    int32_t k;
    for (k = 0; k < n; ++k) {
        acc += (int32_t)x[k] * (int32_t)w[k];
    }
    return acc;
}

/* ---- argument checks ---------------------------------------------------------- */

/* A (multiplier, shift) pair: multiplier >= 0 (0 allowed), shift in [-31, 30]. */
static inline int pr_q_multiplier_ok(int32_t multiplier, int32_t shift)
{
    return multiplier >= 0 && shift >= PR_Q_SHIFT_MIN && shift <= PR_Q_SHIFT_MAX;
}

/* n per-channel pairs. */
static inline int pr_q_multipliers_ok(int32_t n, const int32_t *multiplier,
                                      const int32_t *shift)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (!pr_q_multiplier_ok(multiplier[i], shift[i])) {
            return 0;
        }
    }
    return 1;
}

/* zero point and clamp range inside [lo, hi], act_min <= act_max. */
static inline int pr_q_out_range_ok(int32_t zero_point, int32_t act_min, int32_t act_max,
                                    int32_t lo, int32_t hi)
{
    return zero_point >= lo && zero_point <= hi && act_min >= lo && act_max <= hi &&
           act_min <= act_max;
}

/* a * b fits the element-count limit (both >= 1). */
static inline int pr_q_count_ok(int64_t a, int64_t b)
{
    return a * b <= (int64_t)PR_Q_MAX_ELEMS;
}

#endif /* PR_Q_INTERNAL_H */
