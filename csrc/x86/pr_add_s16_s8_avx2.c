/*
 * pr_add_s16_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_add_s16_s8.c (chosen at build time by csrc/build_ffi.py; pr_x86_add_avx2.h).
 */
#include "pr_x86_q256.h"

#define PR_ADD_NAME pr_add_s16_s8
#define PR_ADD_B_T int8_t
#define PR_ADD_B_ZP_MIN (-128)
#define PR_ADD_B_ZP_MAX 127
#define PR_ADD_LOAD_B(p, lo, hi)                                                       \
    do {                                                                               \
        const __m128i b8_ = _mm_loadu_si128((const __m128i *)(const void *)(p));       \
        (lo) = _mm256_cvtepi8_epi32(b8_);                                              \
        (hi) = _mm256_cvtepi8_epi32(_mm_srli_si128(b8_, 8));                           \
    } while (0)
#include "pr_x86_add_avx2.h"
