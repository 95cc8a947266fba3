/*
 * The pitch track's shared steps (pr_pitch_*.c); NumPy reference
 * pyreparam/quant/qpitch.py, the arithmetic in its module docstring.
 */
#ifndef PR_PITCH_INTERNAL_H
#define PR_PITCH_INTERNAL_H

#include "pyreparam.h"

enum {
    PR_PITCH_TAP_BITS = 15,
    PR_PITCH_OUT_FRAC = 8,
    PR_PITCH_WINDOW_LIMIT = 1 << 17      /* |window| bound: |z| <= 2^18, |R| <= 2^46, and
                                            2^14 (a - c) fits int64 */
};

static inline pr_status pr_pitch_check_params(const pr_pitch_params *p)
{
    if (p->factor < 2 || p->factor > PR_PITCH_MAX_FACTOR || p->width < 4 ||
        p->width > PR_PITCH_MAX_WIDTH || p->lag_min < 2 || p->lag_max < p->lag_min ||
        p->lag_max > p->width - 2) {
        return PR_ERR_PARAM;
    }
    return PR_OK;
}

/* round(num / den) half away from zero, den > 0, |num| < 2^61. */
static inline int64_t pr_pitch_div_round(int64_t num, int64_t den)
{
    const uint64_t mag = num < 0 ? (uint64_t)0 - (uint64_t)num : (uint64_t)num;
    const int64_t q = (int64_t)((2 * mag + (uint64_t)den) / (2 * (uint64_t)den));
    return num < 0 ? -q : q;
}

/* The int32 of an unsigned word's bits (two's complement, without implementation-
 * defined conversions). */
static inline int32_t pr_pitch_i32_u(uint32_t v)
{
    return v <= 0x7FFFFFFFu ? (int32_t)v : -(int32_t)(~v) - 1;
}

/* floor(num / den), den > 0 */
static inline int64_t pr_pitch_div_floor(int64_t num, int64_t den)
{
    const int64_t q = num / den;
    return (num % den != 0 && num < 0) ? q - 1 : q;
}

#endif /* PR_PITCH_INTERNAL_H */
