/*
 * pr_layernorm_s16_s8, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_layernorm_s16_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * Rows in blocks of PR512_LN_ROWS. First the statistics of every row of the block:
 * S1 and S2 with vpmaddwd (a pair of squares is at most 2^31: read as unsigned,
 * summed in 64-bit lanes), V, and inv, k of pr_layernorm_internal.h (scalar, one per
 * row; the rows' computations are independent and overlap). Then 16 channels at a
 * time, their constants (MBQM's, offsets) set up once per block, for each row:
 *   xc = C x - S1                      exact in int32 (|xc| <= 2^28), vpmaddwd
 *   z  = RDBP64(xc inv, n), n = 37 - k  as sign(xc) floor((|xc| inv + 2^(n-1)) / 2^n):
 *                                      RDBP rounds half away from zero, which is
 *                                      symmetric; |xc| inv < 2^59 (unsigned 32 x 32 bit
 *                                      products, inv <= 2^31)
 *   u  = MBQM(z, m_i, e_i)             pr512_mbqm (m_i may be negative)
 *   y  = clamp(zp + RDBP(sat32(u + offset_i), 8))
 * The reference saturates z to int32; that never acts: sum_i xc_i^2 = C (V - eps)
 * gives |xc| <= sqrt(C V), and with N = V 4^k, r = isqrt(N) > sqrt(N) - 1,
 * inv <= 2^61 / r + 1/2:
 *   |xc| inv / 2^(37-k) <= sqrt(C) sqrt(N) (2^61 / r + 1/2) / 2^37
 *                      <= sqrt(C) 2^24 (1 + 1/r) (1 + r / 2^62) < 2^30 (1 + 2^-29)
 * (C <= 4096, r >= 2^30), so |z| <= 2^30 + 1. The last step saturates u + offset to
 * int32 instead of widening it: where the saturation acts, |u + offset| >= 2^31 - 1,
 * so both RDBP values are beyond 2^22 and clamp to the same end of the int8 range;
 * with every shift <= 0 and small offsets it cannot act (pr512_ln_channels).
 */
#include "pr_layernorm_internal.h"
#include "pr_x86_q512.h"

enum { PR512_LN_ROWS = 16 };

/* Per row of a block: S1, and inv and the rounding shift n = 37 - k with 2^(n-1). */
typedef struct {
    int32_t S1[PR512_LN_ROWS];
    int64_t inv[PR512_LN_ROWS];
    int64_t n[PR512_LN_ROWS];
    int64_t half[PR512_LN_ROWS];
} pr512_ln_rows;

/* S1 = sum x, S2 = sum x^2 of one row of C int16 */
static inline PR_TARGET_AVX512 void pr512_ln_sums(const int16_t *x, int32_t C, int64_t *S1,
                                                  int64_t *S2)
{
    const __m512i ones = _mm512_set1_epi16(1);
    __m512i s1 = _mm512_setzero_si512();
    __m512i s2 = _mm512_setzero_si512();
    int32_t i;
    for (i = 0; i < C; i += 32) {
        const int32_t n = C - i < 32 ? C - i : 32;
        const __mmask32 lanes = n >= 32 ? 0xFFFFFFFFu : (1u << n) - 1u;
        const __m512i v = _mm512_maskz_loadu_epi16(lanes, x + i);
        const __m512i sq = _mm512_madd_epi16(v, v); /* x0^2 + x1^2 <= 2^31: unsigned */
        s1 = _mm512_add_epi32(s1, _mm512_madd_epi16(v, ones)); /* |S1| <= 2^27 */
        s2 = _mm512_add_epi64(s2, _mm512_cvtepu32_epi64(_mm512_castsi512_si256(sq)));
        s2 = _mm512_add_epi64(s2, _mm512_cvtepu32_epi64(_mm512_extracti64x4_epi64(sq, 1)));
    }
    *S1 = _mm512_reduce_add_epi32(s1);
    *S2 = _mm512_reduce_add_epi64(s2);
}

/* The statistics of rows 0 .. nr - 1 from x. */
static PR_TARGET_AVX512 void pr512_ln_stats(const pr_layernorm_params *p, const int16_t *x,
                                            int32_t nr, pr512_ln_rows *st)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        int64_t S1, S2, V, inv = 0;
        int32_t k = 0;
        pr512_ln_sums(x + (int64_t)r * C, C, &S1, &S2);
        V = (int64_t)C * S2 - S1 * S1 + p->eps; /* C^2 (var + eps) / s_x^2, < 2^61 */
        if (V > 0) {
            inv = pr_ln_inv_sqrt(V, &k);
        }
        /* inv = 0 (V = 0) gives z = 0 as in the reference */
        st->S1[r] = (int32_t)S1;
        st->inv[r] = inv;
        st->n[r] = 37 - k;                     /* 7 .. 37 */
        st->half[r] = (int64_t)1 << (36 - k);
    }
}

/*
 * Channels c0 .. c0 + 15 (lanes) of rows 0 .. nr - 1. sat_free: u + offset cannot
 * leave int32 (checked by the caller), so the saturating add is a plain one.
 */
PR512_INLINE void pr512_ln_lanes(const pr_layernorm_params *p, const int16_t *x, int8_t *y,
                                 int32_t nr, const pr512_ln_rows *st, int32_t c0,
                                 __mmask16 lanes, const pr512_mbqm_c *q, __m512i off,
                                 int sat_free)
{
    const int32_t C = p->channels;
    const __m512i cC = _mm512_set1_epi32(C);   /* words (C, 0): vpmaddwd gives C x */
    const __m512i zero = _mm512_setzero_si512();
    int32_t r;
    for (r = 0; r < nr; ++r) {
        const __m512i xv = _mm512_cvtepi16_epi32(
            _mm256_maskz_loadu_epi16(lanes, x + (int64_t)r * C + c0));
        const __m512i xc = _mm512_sub_epi32(_mm512_madd_epi16(xv, cC),
                                            _mm512_set1_epi32(st->S1[r]));
        const __m512i axc = _mm512_abs_epi32(xc);
        const __m512i inv = _mm512_set1_epi64(st->inv[r]);
        const __m512i half = _mm512_set1_epi64(st->half[r]);
        const __m128i n = _mm_cvtsi64_si128(st->n[r]);
        const __m512i even = _mm512_add_epi64(_mm512_mul_epu32(axc, inv), half);
        const __m512i odd = _mm512_add_epi64(
            _mm512_mul_epu32(_mm512_srli_epi64(axc, 32), inv), half);
        __m512i z = _mm512_mask_blend_epi32(0xAAAA, _mm512_srl_epi64(even, n),
                                            _mm512_slli_epi64(_mm512_srl_epi64(odd, n), 32));
        __m512i u, v, thr;
        z = _mm512_mask_sub_epi32(z, _mm512_cmplt_epi32_mask(xc, zero), zero, z);
        u = pr512_mbqm(q, z);
        u = sat_free ? _mm512_add_epi32(u, off) : pr512_add_sat(u, off);
        /* RDBP(u, 8) = (u >> 8) + ((u & 255) > 127 + (u < 0)) */
        thr = _mm512_add_epi32(_mm512_set1_epi32(127), _mm512_srli_epi32(u, 31));
        v = _mm512_srai_epi32(u, 8);
        v = _mm512_mask_add_epi32(
            v, _mm512_cmpgt_epi32_mask(_mm512_and_si512(u, _mm512_set1_epi32(255)), thr), v,
            _mm512_set1_epi32(1));
        v = pr512_clamp_zp(v, p->out_zero_point, p->act_min, p->act_max);
        _mm_mask_storeu_epi8(y + (int64_t)r * C + c0, lanes, _mm512_cvtepi32_epi8(v));
    }
}

/*
 * Channels c0 .. c0 + 15 of rows 0 .. nr - 1. With every shift <= 0, |u| <= 2^30 + 1
 * (|z| <= 2^30 + 1 and |m| < 2^31 give |SRDHM(z, m)| <= 2^30 + 1, and the rounding
 * right shift does not grow it), so |offset| <= 2^30 - 2 keeps u + offset in int32.
 */
static PR_TARGET_AVX512 void pr512_ln_channels(const pr_layernorm_params *p,
                                               const int16_t *x, const int32_t *multiplier,
                                               const int32_t *shift, const int32_t *offset,
                                               int8_t *y, int32_t nr,
                                               const pr512_ln_rows *st, int32_t c0)
{
    const __mmask16 lanes = pr512_first(p->channels - c0);
    const pr512_mbqm_c q = pr512_mbqm_consts(_mm512_maskz_loadu_epi32(lanes, multiplier + c0),
                                             _mm512_maskz_loadu_epi32(lanes, shift + c0));
    const __m512i off = _mm512_maskz_loadu_epi32(lanes, offset + c0);
    const int sat_free = !q.any_left &&
                         _mm512_cmpgt_epu32_mask(_mm512_abs_epi32(off),
                                                 _mm512_set1_epi32((1 << 30) - 2)) == 0;
    if (sat_free) {
        pr512_ln_lanes(p, x, y, nr, st, c0, lanes, &q, off, 1);
    } else {
        pr512_ln_lanes(p, x, y, nr, st, c0, lanes, &q, off, 0);
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    pr512_ln_rows st;
    int64_t t;
    int32_t i;
    const pr_status status = pr_layernorm_check(p, x, multiplier, shift, offset, y);
    if (status != PR_OK) {
        return status;
    }
    for (t = 0; t < p->rows; t += PR512_LN_ROWS) {
        const int32_t nr = p->rows - t < PR512_LN_ROWS ? (int32_t)(p->rows - t)
                                                       : PR512_LN_ROWS;
        const int64_t o = t * p->channels;
        pr512_ln_stats(p, x + o, nr, &st);
        for (i = 0; i < p->channels; i += 16) {
            pr512_ln_channels(p, x + o, multiplier, shift, offset, y + o, nr, &st, i);
        }
    }
    return PR_OK;
}
