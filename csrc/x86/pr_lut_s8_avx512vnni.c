/*
 * pr_lut_s8, AVX-512 variant: same prototype, checks and results as csrc/pr_lut_s8.c
 * (chosen at build time by csrc/build_ffi.py). The 256-byte table is held in four
 * registers as 128 little-endian words (word w = table[2w] | table[2w + 1] << 8);
 * for 32 elements at a time, with t = x + 128: word t / 2 by two two-register word
 * permutes (vpermt2w, 64 words each) and a choice by bit 6 of t / 2; its high byte
 * when t is odd (a shift by 8), then the low bytes (vpmovwb). 64 elements per step;
 * y may alias x (each step loads before it stores).
 */
#include "pr_x86_q512.h"

/* table[t] in the low byte of 32 word lanes t (0 .. 255) */
PR512_INLINE __m512i pr512_lut32(const __m512i w[4], __m512i t)
{
    const __m512i half = _mm512_srli_epi16(t, 1);
    const __m512i p0 = _mm512_permutex2var_epi16(w[0], half, w[1]);
    const __m512i p1 = _mm512_permutex2var_epi16(w[2], half, w[3]);
    const __m512i pair = _mm512_mask_blend_epi16(
        _mm512_test_epi16_mask(half, _mm512_set1_epi16(64)), p0, p1);
    return _mm512_mask_srli_epi16(pair, _mm512_test_epi16_mask(t, _mm512_set1_epi16(1)),
                                  pair, 8);
}

static PR_TARGET_AVX512 void pr512_lut(int32_t n, const int8_t *x, const int8_t *table,
                                       int8_t *y)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i w[4];
    int32_t i;
    for (i = 0; i < 4; ++i) {
        w[i] = _mm512_loadu_si512(table + 64 * i);
    }
    for (i = 0; i < n; i += 64) {
        const int32_t left = n - i;
        const __mmask64 lanes = left >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << left) - 1);
        const __m512i t = _mm512_xor_si512(_mm512_maskz_loadu_epi8(lanes, x + i), flip);
        const __m256i lo = _mm512_cvtepi16_epi8(
            pr512_lut32(w, _mm512_cvtepu8_epi16(_mm512_castsi512_si256(t))));
        const __m256i hi = _mm512_cvtepi16_epi8(
            pr512_lut32(w, _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(t, 1))));
        _mm512_mask_storeu_epi8(y + i, lanes,
                                _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1));
    }
}

pr_status pr_lut_s8(int32_t n, const int8_t *x, const int8_t *table, int8_t *y)
{
    const pr_status st = pr_lut_check(n, x, table, y);
    if (st != PR_OK) {
        return st;
    }
    pr512_lut(n, x, table, y);
    return PR_OK;
}
