/*
 * Internal: the fixed-point steps of pr_q_internal.h on 8 int32 lanes, AVX2 (not
 * public API), and the small load / store helpers the AVX2 variants share. Each
 * function computes, lane by lane, exactly what the scalar reference computes
 * (reference/int8.md section 2); pr_x86_q512.h is the AVX-512 counterpart.
 *
 * AVX2 has no masked loads of bytes or words: a variant reads only the elements it
 * owns, and handles a tail shorter than a vector through a small zero-filled copy
 * (pr256_load_tail / pr256_store_tail).
 */
#ifndef PR_X86_Q256_H
#define PR_X86_Q256_H

#include <immintrin.h>

#include "pr_x86_common.h"

#define PR256_INLINE static inline __attribute__((always_inline)) PR_TARGET_AVX2

/* sat32(a + b) */
PR256_INLINE __m256i pr256_add_sat(__m256i a, __m256i b)
{
    const __m256i s = _mm256_add_epi32(a, b);
    /* overflow iff a, b have one sign and s the other: (s ^ a) & (s ^ b) < 0 */
    const __m256i ovf = _mm256_srai_epi32(
        _mm256_and_si256(_mm256_xor_si256(s, a), _mm256_xor_si256(s, b)), 31);
    const __m256i sat = _mm256_xor_si256(_mm256_srai_epi32(a, 31),
                                         _mm256_set1_epi32(PR_Q_INT32_MAX));
    return _mm256_blendv_epi8(s, sat, ovf);
}

/* The per-lane constants of MBQM(., m, e), from the shift e. */
typedef struct {
    __m256i mult;     /* m */
    __m256i mult_odd; /* m of the odd lanes in the even dwords (for _mm256_mul_epi32) */
    __m256i left;     /* max(e, 0) */
    __m256i big;      /* INT32_MAX >> left: larger values saturate */
    __m256i small;    /* INT32_MIN >> left: smaller values saturate */
    __m256i right;    /* max(-e, 0) */
    __m256i mask;     /* 2^right - 1 */
    __m256i half;     /* mask >> 1 */
    int any_left;     /* some e > 0 */
} pr256_mbqm_c;

PR256_INLINE pr256_mbqm_c pr256_mbqm_consts(__m256i mult, __m256i shift)
{
    const __m256i zero = _mm256_setzero_si256();
    const __m256i one = _mm256_set1_epi32(1);
    pr256_mbqm_c c;
    c.mult = mult;
    c.mult_odd = _mm256_srli_epi64(mult, 32);
    c.left = _mm256_max_epi32(shift, zero);
    c.big = _mm256_srav_epi32(_mm256_set1_epi32(PR_Q_INT32_MAX), c.left);
    c.small = _mm256_srav_epi32(_mm256_set1_epi32(PR_Q_INT32_MIN), c.left);
    c.right = _mm256_max_epi32(_mm256_sub_epi32(zero, shift), zero);
    c.mask = _mm256_sub_epi32(_mm256_sllv_epi32(one, c.right), one);
    c.half = _mm256_srai_epi32(c.mask, 1);
    c.any_left = _mm256_movemask_epi8(_mm256_cmpgt_epi32(shift, zero)) != 0;
    return c;
}

/* The constants of a per-tensor (multiplier, shift). */
PR256_INLINE pr256_mbqm_c pr256_mbqm_consts1(int32_t multiplier, int32_t shift)
{
    return pr256_mbqm_consts(_mm256_set1_epi32(multiplier), _mm256_set1_epi32(shift));
}

/*
 * MBQM(x, m, e), m != INT32_MIN (m may be negative: LayerNorm), as pr512_mbqm:
 *   s = sat32(x 2^left) (only when some lane has e > 0 and `left` is set);
 *   h = SRDHM(s, m) = floor((s m + 2^30) / 2^31) (reference/int8.md: equal to the
 *       gemmlowp form for every input but s = m = INT32_MIN, excluded): the 64-bit
 *       products of the even and odd lanes, their bits 31..62 (the result fits 32
 *       bits);
 *   RDBP(h, right) = (h >> right) + ((h & mask) > (mask >> 1) + (h < 0)).
 * `left` is a compile-time constant in the callers: 0 skips the saturating shift.
 */
PR256_INLINE __m256i pr256_mbqm(const pr256_mbqm_c *c, __m256i x, int left)
{
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    __m256i s = x;
    __m256i even, odd, h, thr, q;
    if (left) {
        s = _mm256_sllv_epi32(x, c->left);
        s = _mm256_blendv_epi8(s, _mm256_set1_epi32(PR_Q_INT32_MAX),
                               _mm256_cmpgt_epi32(x, c->big));
        s = _mm256_blendv_epi8(s, _mm256_set1_epi32(PR_Q_INT32_MIN),
                               _mm256_cmpgt_epi32(c->small, x));
    }
    even = _mm256_add_epi64(_mm256_mul_epi32(s, c->mult), nudge);
    odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(s, 32), c->mult_odd), nudge);
    h = _mm256_blend_epi32(_mm256_srli_epi64(even, 31), _mm256_slli_epi64(odd, 1), 0xAA);
    thr = _mm256_add_epi32(c->half, _mm256_srli_epi32(h, 31));
    q = _mm256_srav_epi32(h, c->right);
    return _mm256_sub_epi32(q, _mm256_cmpgt_epi32(_mm256_and_si256(h, c->mask), thr));
}

/* clamp(y + zp, act_min, act_max) = clamp(y, act_min - zp, act_max - zp) + zp: the
 * reference adds in int64; this form cannot overflow int32 (zp and the range lie in
 * the output type's range). */
PR256_INLINE __m256i pr256_clamp_zp(__m256i y, int32_t zp, int32_t act_min, int32_t act_max)
{
    y = _mm256_max_epi32(y, _mm256_set1_epi32(act_min - zp));
    y = _mm256_min_epi32(y, _mm256_set1_epi32(act_max - zp));
    return _mm256_add_epi32(y, _mm256_set1_epi32(zp));
}

/* The int8 values of lanes 0..7 of v (each in [-128, 127]) as 8 bytes. */
PR256_INLINE __m128i pr256_bytes8(__m256i v)
{
    const __m128i w = _mm_packs_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    return _mm_packs_epi16(w, w);                    /* the low 8 bytes */
}

/* The int8 values of a (lanes 0..7) and b (8..15), each in [-128, 127], as 16 bytes. */
PR256_INLINE __m128i pr256_bytes16(__m256i a, __m256i b)
{
    const __m256i w = _mm256_packs_epi32(a, b);      /* a0-3 b0-3 | a4-7 b4-7 */
    const __m128i lo = _mm256_castsi256_si128(w);
    const __m128i hi = _mm256_extracti128_si256(w, 1);
    return _mm_shuffle_epi32(_mm_packs_epi16(lo, hi), 0xD8); /* a0-3 a4-7 b0-3 b4-7 */
}

/* The int16 values of a (lanes 0..7) and b (8..15), each in [-32768, 32767]. */
PR256_INLINE __m256i pr256_words16(__m256i a, __m256i b)
{
    return _mm256_permute4x64_epi64(_mm256_packs_epi32(a, b), 0xD8);
}

/* Copy n < 32 bytes without a library call (fixed-size copies inline). */
static inline void pr256_copy_lt32(void *dst, const void *src, size_t n)
{
    unsigned char *d = (unsigned char *)dst;
    const unsigned char *s = (const unsigned char *)src;
    if (n & 16) {
        memcpy(d, s, 16);
        d += 16;
        s += 16;
    }
    if (n & 8) {
        memcpy(d, s, 8);
        d += 8;
        s += 8;
    }
    if (n & 4) {
        memcpy(d, s, 4);
        d += 4;
        s += 4;
    }
    if (n & 2) {
        memcpy(d, s, 2);
        d += 2;
        s += 2;
    }
    if (n & 1) {
        *d = *s;
    }
}

/* Copy n < size bytes to a zero-filled buffer of size bytes (a short tail). */
static inline void pr256_load_tail(void *buf, size_t size, const void *src, size_t n)
{
    memset(buf, 0, size);
    memcpy(buf, src, n);
}

#endif /* PR_X86_Q256_H */
