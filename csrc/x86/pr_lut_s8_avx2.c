/*
 * pr_lut_s8, AVX2 variant: same prototype, checks and results as csrc/pr_lut_s8.c
 * (chosen at build time by csrc/build_ffi.py).
 *
 * vpshufb looks up 16-entry tables: byte l of the result is T[i_l & 15], or 0 when
 * bit 7 of i_l is set. The 256 entries are 16 such tables, T_h = table[16 h ..
 * 16 h + 15], in two halves of 8: x >= 0 reads table[128 + x], x < 0 reads
 * table[x + 128] = table[x ^ 0x80]. For the half of x >= 0, with i_h = x - 16 h
 * (signed saturating: never below -128) and D_0 = T_8, D_h = T_(8+h) ^ T_(8+h-1):
 *   i_h >= 0 (bit 7 clear) exactly when h <= x >> 4, and then i_h & 15 = x & 15;
 *   i_h < 0 for every h when x < 0;
 * so the exclusive or of vpshufb(D_h, i_h) over h = 0..7 is D_0 ^ ... ^ D_(x >> 4) at
 * x & 15, i.e. T_(8 + (x >> 4))[x & 15] = table[128 + x], and 0 when x < 0. The
 * other half is the same with x ^ 0x80 (x < 0 maps to 0..127, x >= 0 below 0) and
 * the tables T_0 .. T_7. 32 elements per step; the last n mod 32 through a
 * zero-padded copy; y may alias x (each step loads before it stores).
 */
#include "pr_x86_q256.h"

/* table[x + 128] of 32 bytes x; d: the 16 difference tables (halves x >= 0, x < 0) */
PR256_INLINE __m256i pr256_lut32(const __m256i d[16], __m256i x)
{
    const __m256i step = _mm256_set1_epi8(16);
    __m256i ia = x;
    __m256i ib = _mm256_xor_si256(x, _mm256_set1_epi8((char)0x80));
    __m256i r = _mm256_xor_si256(_mm256_shuffle_epi8(d[0], ia), _mm256_shuffle_epi8(d[8], ib));
    int h;
    for (h = 1; h < 8; ++h) {
        ia = _mm256_subs_epi8(ia, step);
        ib = _mm256_subs_epi8(ib, step);
        r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[h], ia));
        r = _mm256_xor_si256(r, _mm256_shuffle_epi8(d[8 + h], ib));
    }
    return r;
}

static PR_TARGET_AVX2 void pr256_lut(int32_t n, const int8_t *x, const int8_t *table,
                                     int8_t *y)
{
    __m256i d[16];
    int32_t h, i;
    for (h = 0; h < 8; ++h) { /* d[h]: half x >= 0, d[8 + h]: half x < 0 */
        const __m128i ta = _mm_loadu_si128((const __m128i *)(const void *)(table + 128 + 16 * h));
        const __m128i tb = _mm_loadu_si128((const __m128i *)(const void *)(table + 16 * h));
        const __m128i pa = h == 0 ? _mm_setzero_si128()
                                  : _mm_loadu_si128((const __m128i *)(const void *)(table + 112 + 16 * h));
        const __m128i pb = h == 0 ? _mm_setzero_si128()
                                  : _mm_loadu_si128((const __m128i *)(const void *)(table - 16 + 16 * h));
        d[h] = _mm256_broadcastsi128_si256(_mm_xor_si128(ta, pa));
        d[8 + h] = _mm256_broadcastsi128_si256(_mm_xor_si128(tb, pb));
    }
    for (i = 0; i + 32 <= n; i += 32) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + i));
        _mm256_storeu_si256((__m256i *)(void *)(y + i), pr256_lut32(d, xv));
    }
    if (i < n) {
        int8_t t[32];
        pr256_load_tail(t, sizeof t, x + i, (size_t)(n - i));
        _mm256_storeu_si256((__m256i *)(void *)t,
                            pr256_lut32(d, _mm256_loadu_si256((const __m256i *)(void *)t)));
        memcpy(y + i, t, (size_t)(n - i));
    }
}

pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y)
{
    const pr_status st = pr_lut_check(n, x, table, y);
    if (st != PR_OK) {
        return st;
    }
    pr256_lut(n, x, table, y);
    return PR_OK;
}
