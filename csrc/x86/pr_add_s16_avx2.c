/*
 * pr_add_s16, AVX2 variant: same prototype, checks and results as csrc/pr_add_s16.c
 * (chosen at build time by csrc/build_ffi.py; pr_x86_add_avx2.h).
 */
#include "pr_x86_q256.h"

#define PR_ADD_NAME pr_add_s16
#define PR_ADD_B_T int16_t
#define PR_ADD_B_ZP_MIN 0
#define PR_ADD_B_ZP_MAX 0
#define PR_ADD_LOAD_B(p, lo, hi)                                                       \
    do {                                                                               \
        const __m256i b16_ = _mm256_loadu_si256((const __m256i *)(const void *)(p));   \
        (lo) = _mm256_cvtepi16_epi32(_mm256_castsi256_si128(b16_));                    \
        (hi) = _mm256_cvtepi16_epi32(_mm256_extracti128_si256(b16_, 1));               \
    } while (0)
#include "pr_x86_add_avx2.h"
