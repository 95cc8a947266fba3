/*
 * pr_a64_mm_neon: the int8 product of the NEON variants (pr_a64_mm_impl.h; internal).
 *
 * 16 products of int8 x int8 per SMULL (8 products into int16 lanes) + SMLAL2 (the
 * other 8 added to them) + SADALP (pairs of int16 lanes added into the int32
 * accumulator): two products of int8 fit an int16 lane when one factor of each is
 * never -128 (|x w| <= 128 x 127, twice 32,512 < 2^15), so this form is used when the
 * panel of B holds no -128 (the model's weights are in [-127, 127]); otherwise SMULL,
 * SMULL2 and two SADALP (one product per int16 lane, always exact).
 */
#include "pr_a64_common.h"

#define PR_A64_MM pr_a64_mm_neon
#define PR_A64_TARGET
#define PR_A64_NEEDS_MIN 1
#define PR_A64_DOT16(acc, x, w, exact)                                                    \
    do {                                                                                  \
        if (exact) {                                                                      \
            (acc) = vpadalq_s16((acc), vmull_s8(vget_low_s8(x), vget_low_s8(w)));         \
            (acc) = vpadalq_s16((acc), vmull_high_s8((x), (w)));                          \
        } else {                                                                          \
            (acc) = vpadalq_s16(                                                          \
                (acc), vmlal_high_s8(vmull_s8(vget_low_s8(x), vget_low_s8(w)), (x), (w))); \
        }                                                                                 \
    } while (0)

#define PR_A64_DOT16_FIRST(acc, x, w, exact)                                              \
    do {                                                                                  \
        if (exact) {                                                                      \
            (acc) = vpaddlq_s16(vmull_s8(vget_low_s8(x), vget_low_s8(w)));                \
            (acc) = vpadalq_s16((acc), vmull_high_s8((x), (w)));                          \
        } else {                                                                          \
            (acc) = vpaddlq_s16(vmlal_high_s8(vmull_s8(vget_low_s8(x), vget_low_s8(w)),   \
                                              (x), (w)));                                 \
        }                                                                                 \
    } while (0)

#include "pr_a64_mm_impl.h"
