/*
 * pr_softmax_s8, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_softmax_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * Per row, 16 keys at a time: the allowed keys (window and key mask) as a lane mask;
 * mx = max x over them; e_j = exp_table[mx - x_j] by a masked gather, S = sum e_j;
 * then the reference's q_j = floor((512 e_j + S) / (2 S)) without a division per
 * key: with d = 2 S and R = floor(2^31 / d) (one division per row),
 *   q0 = floor(a R / 2^31) for a = 512 e_j + S < 2^31
 * satisfies a/d - 1 < q0 <= a/d (a R / 2^31 > a (2^31/d - 1) / 2^31 > a/d - 1), so
 * q0 is q or q - 1, and q = q0 + (a - q0 d >= d): exact integer arithmetic.
 */
#include "pr_x86_q512.h"

/* The reference's table check, 16 entries at a time: Q16 exp values in
 * [0, PR_SOFTMAX_EXP_ONE], a non-zero entry for d = 0. */
static PR_TARGET_AVX512 int pr_softmax_table_ok(const int32_t *exp_table)
{
    __mmask16 bad = 0;
    int32_t d;
    if (exp_table[0] < 1) {
        return 0;
    }
    for (d = 0; d < 256; d += 16) {
        const __m512i e = _mm512_loadu_si512(exp_table + d);
        bad |= _mm512_cmplt_epi32_mask(e, _mm512_setzero_si512()) |
               _mm512_cmpgt_epi32_mask(e, _mm512_set1_epi32(PR_SOFTMAX_EXP_ONE));
    }
    return bad == 0;
}

/* Lanes of keys j .. j + 15 with key_mask != 0 and j + l < cols (the same in every
 * row): key_ok[j / 16]. */
static PR_TARGET_AVX512 void pr512_key_lanes(int32_t cols, const uint8_t *key_mask,
                                             __mmask16 *key_ok)
{
    int32_t j;
    for (j = 0; j < cols; j += 16) {
        const __mmask16 exists = pr512_first(cols - j);
        __mmask16 ok = exists;
        if (key_mask != NULL) {
            const __m128i km = _mm_maskz_loadu_epi8(exists, key_mask + j);
            ok &= _mm_test_epi8_mask(km, km);
        }
        key_ok[j / 16] = ok;
    }
}

/* Lanes of keys j .. j + 15 inside [lo, hi). */
static inline __mmask16 pr512_window_lanes(int32_t j, int32_t lo, int32_t hi)
{
    const int32_t a = lo - j < 0 ? 0 : (lo - j > 16 ? 16 : lo - j);
    const int32_t b = hi - j < 0 ? 0 : (hi - j > 16 ? 16 : hi - j);
    return (__mmask16)(pr512_first(b) & ~pr512_first(a));
}

/* The allowed keys j .. j + 15 of a row. */
static inline __mmask16 pr512_allowed(int32_t j, int32_t lo, int32_t hi,
                                      const __mmask16 *key_ok)
{
    return key_ok[j / 16] & pr512_window_lanes(j, lo, hi);
}

/* x[j .. j + 15] as int32 (keys past the row: 0) */
PR512_INLINE __m512i pr512_keys(const int8_t *x, int32_t j, int32_t cols)
{
    return _mm512_cvtepi8_epi32(_mm_maskz_loadu_epi8(pr512_first(cols - j), x + j));
}

/* floor(a / d) for 0 <= a < 2^31, d >= 2, R = floor(2^31 / d) (see the top). */
PR512_INLINE __m512i pr512_div(__m512i a, __m512i d, __m512i R)
{
    const __m512i even = _mm512_mul_epu32(a, R);
    const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(a, 32), R);
    const __m512i q0 = _mm512_mask_blend_epi32(0xAAAA, _mm512_srli_epi64(even, 31),
                                               _mm512_slli_epi64(odd, 1));
    const __m512i rem = _mm512_sub_epi32(a, _mm512_mullo_epi32(q0, d));
    return _mm512_mask_add_epi32(q0, _mm512_cmpge_epi32_mask(rem, d), q0,
                                 _mm512_set1_epi32(1));
}

/* One row (keys lo .. hi - 1 may be allowed); e: cols + 15 int32 of scratch. */
static PR_TARGET_AVX512 void pr512_softmax_row(int32_t cols, int32_t lo, int32_t hi,
                                               const int8_t *x, const int32_t *exp_table,
                                               const __mmask16 *key_ok, int8_t *y,
                                               int32_t *e)
{
    __m512i mxv = _mm512_set1_epi32(-129);
    __m512i sumv = _mm512_setzero_si512();
    int32_t j, mx, S;
    for (j = 0; j < cols; j += 16) {
        const __mmask16 ok = pr512_allowed(j, lo, hi, key_ok);
        mxv = _mm512_mask_max_epi32(mxv, ok, mxv, pr512_keys(x, j, cols));
    }
    mx = _mm512_reduce_max_epi32(mxv);
    if (mx == -129) { /* no allowed key: every probability is 0 (q = -128) */
        memset(y, 0x80, (size_t)cols);
        return;
    }
    for (j = 0; j < cols; j += 16) { /* S <= cols 2^16 <= 2^29 */
        const __mmask16 ok = pr512_allowed(j, lo, hi, key_ok);
        const __m512i d = _mm512_sub_epi32(_mm512_set1_epi32(mx), pr512_keys(x, j, cols));
        const __m512i ej = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), ok, d,
                                                       exp_table, 4);
        _mm512_storeu_si512(e + j, ej);
        sumv = _mm512_add_epi32(sumv, ej);
    }
    S = _mm512_reduce_add_epi32(sumv);
    {
        const __m512i Sv = _mm512_set1_epi32(S);
        const __m512i dv = _mm512_set1_epi32(2 * S);
        const uint32_t d = (uint32_t)(2 * S); /* 2 <= d <= 2^30 */
        const __m512i R = _mm512_set1_epi32((int32_t)(((uint32_t)1 << 31) / d));
        for (j = 0; j < cols; j += 16) {
            const __mmask16 ok = pr512_allowed(j, lo, hi, key_ok);
            /* a = 512 e + S < 2^31 (e <= 2^16, S <= 2^29) */
            const __m512i a =
                _mm512_add_epi32(_mm512_slli_epi32(_mm512_loadu_si512(e + j), 9), Sv);
            __m512i q = _mm512_sub_epi32(pr512_div(a, dv, R), _mm512_set1_epi32(128));
            q = _mm512_min_epi32(q, _mm512_set1_epi32(127));
            q = _mm512_mask_mov_epi32(_mm512_set1_epi32(-128), ok, q);
            _mm_mask_storeu_epi8(y + j, pr512_first(cols - j), _mm512_cvtepi32_epi8(q));
        }
    }
}

pr_status pr_softmax_s8(const pr_softmax_params *p, const int8_t *x,
                        const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    int32_t e[PR_SOFTMAX_MAX_COLS + 16];
    __mmask16 key_ok[PR_SOFTMAX_MAX_COLS / 16];
    int64_t h, t;
    if (p == NULL || x == NULL || exp_table == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->batches < 1 || p->rows < 1 || p->cols < 1 || p->cols > PR_SOFTMAX_MAX_COLS ||
        p->window < 0 || (p->window > 0 && p->window % 2 == 0)) {
        return PR_ERR_SHAPE;
    }
    if (!pr_q_count_ok((int64_t)p->batches * p->rows, p->cols)) {
        return PR_ERR_OVERFLOW;
    }
    if (!pr_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    pr512_key_lanes(p->cols, key_mask, key_ok);
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int64_t lo = 0;
            int64_t hi = p->cols;
            if (p->window > 0) {
                lo = t - p->window / 2 > 0 ? t - p->window / 2 : 0;
                hi = t + p->window / 2 + 1 < hi ? t + p->window / 2 + 1 : hi;
                if (lo > hi) {
                    lo = hi;
                }
            }
            pr512_softmax_row(p->cols, (int32_t)lo, (int32_t)hi, x + off, exp_table,
                              key_ok, y + off, e);
        }
    }
    return PR_OK;
}
