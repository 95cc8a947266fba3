/*
 * pr_mul_s8, AVX2 variant: same prototype, checks and results as csrc/pr_mul_s8.c
 * (chosen at build time by csrc/build_ffi.py). 16 elements at a time, in two vectors
 * of 8 int32 lanes: the product (a - za)(b - zb) (|.| <= 255^2), MBQM lane by lane
 * (pr256_mbqm), zero point and clamp as in the reference. The last size mod 16
 * elements go through zero-padded copies.
 */
#include "pr_x86_q256.h"

/* y of 8 elements (int8 a and b sign-extended to int32) */
PR256_INLINE __m256i pr256_mul8(const pr_mul_params *p, const pr256_mbqm_c *q, __m256i av,
                                __m256i bv, int left)
{
    const __m256i prod = _mm256_mullo_epi32(
        _mm256_sub_epi32(av, _mm256_set1_epi32(p->a_zero_point)),
        _mm256_sub_epi32(bv, _mm256_set1_epi32(p->b_zero_point)));
    return pr256_clamp_zp(pr256_mbqm(q, prod, left), p->out_zero_point, p->act_min,
                          p->act_max);
}

/* y of the 16 elements at a and b */
PR256_INLINE __m128i pr256_mul16(const pr_mul_params *p, const pr256_mbqm_c *q,
                                 const int8_t *a, const int8_t *b, int left)
{
    const __m128i a8 = _mm_loadu_si128((const __m128i *)(const void *)a);
    const __m128i b8 = _mm_loadu_si128((const __m128i *)(const void *)b);
    const __m256i lo = pr256_mul8(p, q, _mm256_cvtepi8_epi32(a8), _mm256_cvtepi8_epi32(b8),
                                  left);
    const __m256i hi = pr256_mul8(p, q, _mm256_cvtepi8_epi32(_mm_srli_si128(a8, 8)),
                                  _mm256_cvtepi8_epi32(_mm_srli_si128(b8, 8)), left);
    return pr256_bytes16(lo, hi);
}

PR256_INLINE void pr256_mul_loop(const pr_mul_params *p, const int8_t *a, const int8_t *b,
                                 int8_t *y, int left)
{
    const pr256_mbqm_c q = pr256_mbqm_consts1(p->multiplier, p->shift);
    int32_t i;
    for (i = 0; i + 16 <= p->size; i += 16) { /* y may alias a or b: loads come first */
        _mm_storeu_si128((__m128i *)(void *)(y + i), pr256_mul16(p, &q, a + i, b + i, left));
    }
    if (i < p->size) {
        const size_t n = (size_t)(p->size - i);
        int8_t ta[16], tb[16], ty[16];
        pr256_load_tail(ta, sizeof ta, a + i, n);
        pr256_load_tail(tb, sizeof tb, b + i, n);
        _mm_storeu_si128((__m128i *)(void *)ty, pr256_mul16(p, &q, ta, tb, left));
        memcpy(y + i, ty, n);
    }
}

static PR_TARGET_AVX2 void pr256_mul(const pr_mul_params *p, const int8_t *a,
                                     const int8_t *b, int8_t *y)
{
    if (p->shift > 0) {
        pr256_mul_loop(p, a, b, y, 1);
    } else {
        pr256_mul_loop(p, a, b, y, 0);
    }
}

pr_status pr_mul_s8(const pr_mul_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    const pr_status st = pr_mul_check(p, a, b, y);
    if (st != PR_OK) {
        return st;
    }
    pr256_mul(p, a, b, y);
    return PR_OK;
}
