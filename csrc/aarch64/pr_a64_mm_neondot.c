/*
 * pr_a64_mm_neondot: the int8 product of the neondot variants (pr_a64_mm_impl.h;
 * internal): 16 products of int8 x int8 per SDOT (4 into each int32 lane, exact for
 * any operands), compiled for Armv8.2-A + dotprod (PR_TARGET_DOT) in this file only.
 */
#include "pr_a64_common.h"

#define PR_A64_MM pr_a64_mm_neondot
#define PR_A64_TARGET PR_TARGET_DOT
#define PR_A64_NEEDS_MIN 0
#define PR_A64_DOT16(acc, x, w, exact) ((void)(exact), (acc) = vdotq_s32((acc), (x), (w)))

#define PR_A64_DOT16_FIRST(acc, x, w, exact)                                              \
    ((void)(exact), (acc) = vdotq_s32(vdupq_n_s32(0), (x), (w)))

#include "pr_a64_mm_impl.h"
