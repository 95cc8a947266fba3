/*
 * pr_add_s16_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_add_s16_s8.c (chosen at build time by csrc/build_ffi.py; pr_a64_add.h).
 */
#include "pr_a64_common.h"

#define PR_ADD_NAME pr_add_s16_s8
#define PR_ADD_B_T int8_t
#define PR_ADD_B_ZP_MIN (-128)
#define PR_ADD_B_ZP_MAX 127
#define PR_ADD_LOAD_B(p, zb) vsubl_s8(vld1_s8(p), (zb))    /* b - zb, exact in int16 */
#include "pr_a64_add.h"
