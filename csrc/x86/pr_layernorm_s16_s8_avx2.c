/*
 * pr_layernorm_s16_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_layernorm_s16_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * The steps of the AVX-512 variant (pr_layernorm_s16_s8_avx512vnni.c, where the
 * arithmetic is justified) on 8 lanes: rows in blocks of PR256_LN_ROWS, first the
 * statistics of every row of the block (S1 and S2 with vpmaddwd, V, and inv, k of
 * pr_layernorm_internal.h, scalar), then 8 channels at a time, their constants
 * (MBQM's, offsets) set up once per block, for each row:
 *   xc = C x - S1                      exact in int32 (|xc| <= 2^28), vpmaddwd
 *   z  = sign(xc) floor((|xc| inv + 2^(n-1)) / 2^n), n = 37 - k
 *                                      = RDBP64(xc inv, n) (ties away from zero);
 *                                      |z| <= 2^30 + 1, so the reference's sat32
 *                                      never acts
 *   u  = MBQM(z, m_i, e_i)             pr256_mbqm (m_i may be negative)
 *   y  = clamp(zp + RDBP(sat32(u + offset_i), 8))
 * (sat32 instead of the reference's int64 sum: where it acts both results are
 * beyond the int8 range; with every shift <= 0 and |offset| <= 2^30 - 2 it cannot
 * act and is left out). A row's last C mod 8 channels (and C mod 16 for the sums) go
 * through zero-padded copies.
 */
#include "pr_layernorm_internal.h"
#include "pr_x86_q256.h"

enum { PR256_LN_ROWS = 16 };

/* Per row of a block: S1, and inv and the rounding shift n = 37 - k with 2^(n-1). */
typedef struct {
    int32_t S1[PR256_LN_ROWS];
    int64_t inv[PR256_LN_ROWS];
    int64_t n[PR256_LN_ROWS];
    int64_t half[PR256_LN_ROWS];
} pr256_ln_rows;

/* s1 += the pair sums of v, s2 += its squares (pairs of squares <= 2^31: unsigned,
 * summed in 64-bit lanes) */
PR256_INLINE void pr256_ln_acc(__m256i v, __m256i *s1, __m256i *s2)
{
    const __m256i sq = _mm256_madd_epi16(v, v);
    *s1 = _mm256_add_epi32(*s1, _mm256_madd_epi16(v, _mm256_set1_epi16(1)));
    *s2 = _mm256_add_epi64(*s2, _mm256_cvtepu32_epi64(_mm256_castsi256_si128(sq)));
    *s2 = _mm256_add_epi64(*s2, _mm256_cvtepu32_epi64(_mm256_extracti128_si256(sq, 1)));
}

/* S1 = sum x, S2 = sum x^2 of one row of C int16 (|S1| <= 2^27) */
static inline PR_TARGET_AVX2 void pr256_ln_sums(const int16_t *x, int32_t C, int64_t *S1,
                                                int64_t *S2)
{
    __m256i s1 = _mm256_setzero_si256();
    __m256i s2 = _mm256_setzero_si256();
    __m128i t;
    int32_t i;
    for (i = 0; i + 16 <= C; i += 16) {
        pr256_ln_acc(_mm256_loadu_si256((const __m256i *)(const void *)(x + i)), &s1, &s2);
    }
    if (i < C) { /* zeros add nothing */
        int16_t tail[16];
        pr256_load_tail(tail, sizeof tail, x + i, (size_t)(C - i) * sizeof *x);
        pr256_ln_acc(_mm256_loadu_si256((const __m256i *)(void *)tail), &s1, &s2);
    }
    t = _mm_add_epi32(_mm256_castsi256_si128(s1), _mm256_extracti128_si256(s1, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    *S1 = _mm_cvtsi128_si32(t);
    t = _mm_add_epi64(_mm256_castsi256_si128(s2), _mm256_extracti128_si256(s2, 1));
    t = _mm_add_epi64(t, _mm_unpackhi_epi64(t, t));
    *S2 = _mm_cvtsi128_si64(t);
}

/* The statistics of rows 0 .. nr - 1 from x. */
static PR_TARGET_AVX2 void pr256_ln_stats(const pr_layernorm_params *p, const int16_t *x,
                                          int32_t nr, pr256_ln_rows *st)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        int64_t S1, S2, V, inv = 0;
        int32_t k = 0;
        pr256_ln_sums(x + (int64_t)r * C, C, &S1, &S2);
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

/* The constants of 8 channels. */
typedef struct {
    pr256_mbqm_c q;
    __m256i off;
    int sat_free;       /* u + offset stays in int32 */
} pr256_ln_c;

/* The 8 outputs of one row r from xv (8 int16 of x as int32). */
PR256_INLINE __m128i pr256_ln8(const pr_layernorm_params *p, const pr256_ln_rows *st,
                               int32_t r, const pr256_ln_c *c, __m256i xv, int left,
                               int sat_free)
{
    const __m256i cC = _mm256_set1_epi32(p->channels); /* words (C, 0): C x */
    const __m256i xc = _mm256_sub_epi32(_mm256_madd_epi16(xv, cC),
                                        _mm256_set1_epi32(st->S1[r]));
    const __m256i axc = _mm256_abs_epi32(xc);
    const __m256i inv = _mm256_set1_epi64x(st->inv[r]);
    const __m256i half = _mm256_set1_epi64x(st->half[r]);
    const __m128i n = _mm_cvtsi64_si128(st->n[r]);
    const __m256i even = _mm256_add_epi64(_mm256_mul_epu32(axc, inv), half);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epu32(_mm256_srli_epi64(axc, 32), inv),
                                         half);
    /* |z| fits 31 bits: the even lanes' low words, the odd lanes' shifted up */
    __m256i z = _mm256_blend_epi32(_mm256_srl_epi64(even, n),
                                   _mm256_slli_epi64(_mm256_srl_epi64(odd, n), 32), 0xAA);
    __m256i u, v, thr;
    z = _mm256_sign_epi32(z, xc);       /* xc = 0 gives z = 0 either way */
    u = pr256_mbqm(&c->q, z, left);
    u = sat_free ? _mm256_add_epi32(u, c->off) : pr256_add_sat(u, c->off);
    /* RDBP(u, 8) = (u >> 8) + ((u & 255) > 127 + (u < 0)) */
    thr = _mm256_add_epi32(_mm256_set1_epi32(127), _mm256_srli_epi32(u, 31));
    v = _mm256_sub_epi32(_mm256_srai_epi32(u, 8),
                         _mm256_cmpgt_epi32(_mm256_and_si256(u, _mm256_set1_epi32(255)), thr));
    v = pr256_clamp_zp(v, p->out_zero_point, p->act_min, p->act_max);
    return pr256_bytes8(v);
}

/* Channels c0 .. c0 + 7 (all inside the row) of rows 0 .. nr - 1. */
PR256_INLINE void pr256_ln_lanes(const pr_layernorm_params *p, const int16_t *x, int8_t *y,
                                 int32_t nr, const pr256_ln_rows *st, int32_t c0,
                                 const pr256_ln_c *c, int left, int sat_free)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        const __m256i xv = _mm256_cvtepi16_epi32(
            _mm_loadu_si128((const __m128i *)(const void *)(x + (int64_t)r * C + c0)));
        _mm_storel_epi64((__m128i *)(void *)(y + (int64_t)r * C + c0),
                         pr256_ln8(p, st, r, c, xv, left, sat_free));
    }
}

/* The last n < 8 channels c0 .. c0 + n - 1 of rows 0 .. nr - 1, through copies. */
static PR_TARGET_AVX2 void pr256_ln_tail(const pr_layernorm_params *p, const int16_t *x,
                                         int8_t *y, int32_t nr, const pr256_ln_rows *st,
                                         int32_t c0, int32_t n, const pr256_ln_c *c)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        int16_t tx[8];
        int8_t ty[8];
        pr256_load_tail(tx, sizeof tx, x + (int64_t)r * C + c0, (size_t)n * sizeof *x);
        _mm_storel_epi64((__m128i *)(void *)ty,
                         pr256_ln8(p, st, r, c,
                                   _mm256_cvtepi16_epi32(_mm_loadu_si128((__m128i *)(void *)tx)),
                                   1, 0));
        memcpy(y + (int64_t)r * C + c0, ty, (size_t)n);
    }
}

/*
 * Channels c0 .. c0 + 7 of rows 0 .. nr - 1 (fewer at the end of a row). With every
 * shift <= 0, |u| <= 2^30 + 1 (|z| <= 2^30 + 1 and |m| < 2^31 give |SRDHM(z, m)| <=
 * 2^30 + 1, and the rounding right shift does not grow it), so |offset| <= 2^30 - 2
 * keeps u + offset in int32.
 */
static PR_TARGET_AVX2 void pr256_ln_channels(const pr_layernorm_params *p,
                                             const int16_t *x, const int32_t *multiplier,
                                             const int32_t *shift, const int32_t *offset,
                                             int8_t *y, int32_t nr, const pr256_ln_rows *st,
                                             int32_t c0)
{
    const int32_t n = p->channels - c0 < 8 ? p->channels - c0 : 8;
    int32_t m8[8] = {0}, e8[8] = {0}, o8[8] = {0};
    pr256_ln_c c;
    memcpy(m8, multiplier + c0, (size_t)n * sizeof *m8);
    memcpy(e8, shift + c0, (size_t)n * sizeof *e8);
    memcpy(o8, offset + c0, (size_t)n * sizeof *o8);
    c.q = pr256_mbqm_consts(_mm256_loadu_si256((const __m256i *)(void *)m8),
                            _mm256_loadu_si256((const __m256i *)(void *)e8));
    c.off = _mm256_loadu_si256((const __m256i *)(void *)o8);
    c.sat_free = !c.q.any_left &&
                 _mm256_movemask_epi8(_mm256_cmpgt_epi32(
                     _mm256_abs_epi32(c.off), _mm256_set1_epi32((1 << 30) - 2))) == 0;
    if (n < 8) {
        pr256_ln_tail(p, x, y, nr, st, c0, n, &c);
    } else if (c.sat_free) {
        pr256_ln_lanes(p, x, y, nr, st, c0, &c, 0, 1);
    } else {
        pr256_ln_lanes(p, x, y, nr, st, c0, &c, 1, 0);
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    pr256_ln_rows st;
    int64_t t;
    int32_t i;
    const pr_status status = pr_layernorm_check(p, x, multiplier, shift, offset, y);
    if (status != PR_OK) {
        return status;
    }
    for (t = 0; t < p->rows; t += PR256_LN_ROWS) {
        const int32_t nr = p->rows - t < PR256_LN_ROWS ? (int32_t)(p->rows - t)
                                                       : PR256_LN_ROWS;
        const int64_t o = t * p->channels;
        pr256_ln_stats(p, x + o, nr, &st);
        for (i = 0; i < p->channels; i += 8) {
            pr256_ln_channels(p, x + o, multiplier, shift, offset, y + o, nr, &st, i);
        }
    }
    return PR_OK;
}
