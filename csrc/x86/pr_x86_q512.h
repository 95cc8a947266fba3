/*
 * Internal: the fixed-point steps of pr_q_internal.h on 16 int32 lanes, AVX-512
 * (not public API). Each function computes, lane by lane, exactly what the scalar
 * reference computes (reference/int8.md section 2).
 */
#ifndef PR_X86_Q512_H
#define PR_X86_Q512_H

#include <immintrin.h>

#include "pr_x86_common.h"

#define PR512_INLINE static inline __attribute__((always_inline)) PR_TARGET_AVX512

/* sat32(a + b) */
PR512_INLINE __m512i pr512_add_sat(__m512i a, __m512i b)
{
    const __m512i s = _mm512_add_epi32(a, b);
    /* overflow iff a, b have one sign and s the other: (s ^ a) & (s ^ b) < 0 */
    const __m512i both = _mm512_and_si512(_mm512_xor_si512(s, a), _mm512_xor_si512(s, b));
    const __mmask16 ovf = _mm512_cmplt_epi32_mask(both, _mm512_setzero_si512());
    /* a < 0: INT32_MIN, else INT32_MAX */
    const __m512i sat = _mm512_xor_si512(_mm512_srai_epi32(a, 31),
                                         _mm512_set1_epi32(PR_Q_INT32_MAX));
    return _mm512_mask_mov_epi32(s, ovf, sat);
}

/* The per-lane constants of MBQM(., m, e), from the shift e. */
typedef struct {
    __m512i mult;     /* m */
    __m512i mult_odd; /* m of the odd lanes in the even dwords (for _mm512_mul_epi32) */
    __m512i left;     /* max(e, 0) */
    __m512i big;      /* INT32_MAX >> left: larger values saturate */
    __m512i small;    /* INT32_MIN >> left: smaller values saturate */
    __m512i right;    /* max(-e, 0) */
    __m512i mask;     /* 2^right - 1 */
    __m512i half;     /* mask >> 1 */
    int any_left;     /* some e > 0 */
} pr512_mbqm_c;

PR512_INLINE pr512_mbqm_c pr512_mbqm_consts(__m512i mult, __m512i shift)
{
    const __m512i zero = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    pr512_mbqm_c c;
    c.mult = mult;
    c.mult_odd = _mm512_srli_epi64(mult, 32);
    c.left = _mm512_max_epi32(shift, zero);
    c.big = _mm512_srav_epi32(_mm512_set1_epi32(PR_Q_INT32_MAX), c.left);
    c.small = _mm512_srav_epi32(_mm512_set1_epi32(PR_Q_INT32_MIN), c.left);
    c.right = _mm512_max_epi32(_mm512_sub_epi32(zero, shift), zero);
    c.mask = _mm512_sub_epi32(_mm512_sllv_epi32(one, c.right), one);
    c.half = _mm512_srai_epi32(c.mask, 1);
    c.any_left = _mm512_cmpgt_epi32_mask(shift, zero) != 0;
    return c;
}

/*
 * MBQM(x, m, e), m != INT32_MIN (m may be negative: LayerNorm):
 *   s = sat32(x 2^left) (x outside [INT32_MIN >> left, INT32_MAX >> left] saturates);
 *   h = SRDHM(s, m) = floor((s m + 2^30) / 2^31): reference/int8.md shows that this
 *       equals the gemmlowp form for every input but s = m = INT32_MIN, excluded; the
 *       64-bit products of the even and odd lanes are formed separately and their
 *       bits 31..62 kept (the result fits 32 bits);
 *   RDBP(h, right) = (h >> right) + ((h & mask) > (mask >> 1) + (h < 0)).
 */
PR512_INLINE __m512i pr512_mbqm(const pr512_mbqm_c *c, __m512i x)
{
    const __m512i nudge = _mm512_set1_epi64((int64_t)1 << 30);
    __m512i s = x;
    __m512i even, odd, h, thr, q;
    if (c->any_left) {
        s = _mm512_sllv_epi32(x, c->left);
        s = _mm512_mask_mov_epi32(s, _mm512_cmpgt_epi32_mask(x, c->big),
                                  _mm512_set1_epi32(PR_Q_INT32_MAX));
        s = _mm512_mask_mov_epi32(s, _mm512_cmplt_epi32_mask(x, c->small),
                                  _mm512_set1_epi32(PR_Q_INT32_MIN));
    }
    even = _mm512_add_epi64(_mm512_mul_epi32(s, c->mult), nudge);
    odd = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(s, 32), c->mult_odd), nudge);
    h = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31),
                                _mm512_slli_epi64(odd, 1));
    thr = _mm512_add_epi32(c->half, _mm512_srli_epi32(h, 31));
    q = _mm512_srav_epi32(h, c->right);
    return _mm512_mask_add_epi32(
        q, _mm512_cmpgt_epi32_mask(_mm512_and_si512(h, c->mask), thr), q,
        _mm512_set1_epi32(1));
}

/*
 * MBQM(x, m, -r) for m >= 0 and a right shift r >= 1, as one rounding from the 64-bit
 * product:
 *
 *   RDBP(SRDHM(x, m), r) = floor((x m + 2^30 + 2^(30+r) - [x m + 2^30 < 0] 2^31)
 *                                / 2^(31+r))
 *
 * because SRDHM(x, m) = h = floor((x m + 2^30) / 2^31) (reference/int8.md; h < 0
 * exactly when x m + 2^30 < 0), RDBP(h, r) = floor((h + 2^(r-1) - [h < 0]) / 2^r)
 * (for h = a 2^r + b, 0 <= b < 2^r, both add 1 to a when b >= 2^(r-1) + [h < 0]),
 * and floor((floor(P / 2^31) + c) / 2^r) = floor((P + c 2^31) / 2^(31+r)) for
 * integers P, c. |x m| < 2^62, so nothing overflows 64 bits. The odd lanes' result is
 * the upper word of their sum shifted by r - 1 only.
 */
/* The constants of pr512_mbqm_right for a right shift r (1 .. 31). */
typedef struct {
    __m512i round;      /* 2^30 + 2^(30+r), 64-bit lanes */
    __m512i neg;        /* -2^30: x m below it is x m + 2^30 < 0 */
    __m512i half;       /* 2^31 */
    __m128i sh_even;    /* 31 + r */
    __m128i sh_odd;     /* r - 1: the odd lanes' result is the upper word */
} pr512_right_c;

PR512_INLINE pr512_right_c pr512_right_consts(int32_t r)
{
    pr512_right_c c;
    c.round = _mm512_set1_epi64(((int64_t)1 << 30) + ((int64_t)1 << (30 + r)));
    c.neg = _mm512_set1_epi64(-((int64_t)1 << 30));
    c.half = _mm512_set1_epi64((int64_t)1 << 31);
    c.sh_even = _mm_cvtsi32_si128(31 + r);
    c.sh_odd = _mm_cvtsi32_si128(r - 1);
    return c;
}

/* MBQM(x, m, -r) for m >= 0, r >= 1; mult_odd: the odd lanes' m in the even words. */
PR512_INLINE __m512i pr512_mbqm_right(const pr512_right_c *c, __m512i x, __m512i mult,
                                      __m512i mult_odd)
{
    const __m512i te = _mm512_mul_epi32(x, mult);
    const __m512i to = _mm512_mul_epi32(_mm512_srli_epi64(x, 32), mult_odd);
    __m512i pe = _mm512_add_epi64(te, c->round);
    __m512i po = _mm512_add_epi64(to, c->round);
    pe = _mm512_mask_sub_epi64(pe, _mm512_cmplt_epi64_mask(te, c->neg), pe, c->half);
    po = _mm512_mask_sub_epi64(po, _mm512_cmplt_epi64_mask(to, c->neg), po, c->half);
    return _mm512_mask_blend_epi32(0xAAAA, _mm512_sra_epi64(pe, c->sh_even),
                                   _mm512_sra_epi64(po, c->sh_odd));
}


/* clamp(y + zp, act_min, act_max) = clamp(y, act_min - zp, act_max - zp) + zp: the
 * reference adds in int64; this form cannot overflow int32 (zp and the range lie in
 * the output type's range). */
PR512_INLINE __m512i pr512_clamp_zp(__m512i y, int32_t zp, int32_t act_min, int32_t act_max)
{
    y = _mm512_max_epi32(y, _mm512_set1_epi32(act_min - zp));
    y = _mm512_min_epi32(y, _mm512_set1_epi32(act_max - zp));
    return _mm512_add_epi32(y, _mm512_set1_epi32(zp));
}

/* Lanes 0 .. n - 1 of a 16-lane mask (n in 0..16). */
static inline __mmask16 pr512_first(int32_t n)
{
    return (__mmask16)(n >= 16 ? 0xFFFFu : (1u << n) - 1u);
}

#endif /* PR_X86_Q512_H */
