/*
 * pr_add_s16, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_add_s16.c (chosen at build time by csrc/build_ffi.py; pr_a64_add.h).
 */
#include "pr_a64_common.h"

#define PR_ADD_NAME pr_add_s16
#define PR_ADD_B_T int16_t
#define PR_ADD_B_ZP_MIN 0
#define PR_ADD_B_ZP_MAX 0
#define PR_ADD_LOAD_B(p, zb) ((void)(zb), vld1q_s16(p))   /* zb = 0 */
#include "pr_a64_add.h"
