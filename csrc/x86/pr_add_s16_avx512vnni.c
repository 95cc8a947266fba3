/*
 * pr_add_s16, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_add_s16.c (chosen at build time by csrc/build_ffi.py; pr_x86_add_avx512.h).
 */
#include "pr_x86_q512.h"

#define PR_ADD_NAME pr_add_s16
#define PR_ADD_B_T int16_t
#define PR_ADD_B_ZP_MIN 0
#define PR_ADD_B_ZP_MAX 0
#define PR_ADD_LOAD_B(lanes, p) _mm512_cvtepi16_epi32(_mm256_maskz_loadu_epi16(lanes, p))
#include "pr_x86_add_avx512.h"
