/*
 * pr_softmax_s8, AVX-512 variant: same prototype, checks and results as
 * csrc/pr_softmax_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * Per row, 64 keys at a time (one byte per key); the allowed keys (window and key
 * mask) are a 64-bit lane mask.
 *
 * 1. mx = max x over the allowed keys (vpmaxsb), one horizontal reduction per row.
 * 2. e_j = exp_table[d], d = mx - x_j in [0, 255] (a byte difference, read as u8):
 *    the table is held in 8 registers as 16-bit words, 32 keys are looked up at once
 *    by 4 two-register word permutes (vpermt2w: 64 entries each, d bits 0..5) and a
 *    choice by d bits 6 and 7. A word holds the entries 0 .. 65535; PR_SOFTMAX_EXP_ONE
 *    = 65536 needs a 17th bit, which this path allows only at d = 0 (every table
 *    built by build_softmax_exp_table: table[d] = 65536 needs d s_in < 8e-6 for
 *    d >= 1): keys with x = mx get table[0] itself. Tables with 65536 at some d >= 1
 *    take the gather path below. Keys not allowed get e = 0; S = sum e <= 2^29.
 * 3. q_j = floor(u / dv), u = 512 e_j + S < 2^31, dv = 2 S, without a division per
 *    key: with l = ceil(log2 dv) (1 <= l <= 30) and m = floor(2^(31 + l) / dv) + 1
 *    (one 64-bit division per row),
 *        q_j = floor(u m / 2^(31 + l))          (Granlund & Montgomery 1994, Thm 4.2)
 *    Proof: dv <= 2^l, so 2^(31+l) < m dv <= 2^(31+l) + dv <= 2^(31+l) + 2^l; write
 *    m / 2^(31+l) = 1/dv + delta, 0 < delta <= 1 / (dv 2^31). For 0 <= u < 2^31 with
 *    u = q dv + r, 0 <= r < dv: u m / 2^(31+l) = q + r/dv + u delta, and
 *    0 <= r/dv + u delta < (dv - 1)/dv + 1/dv = 1, so the floor is q. m < 2^32: m =
 *    2^32 would need floor(2^(31+l)/dv) >= 2^32 - 1, i.e. dv <= 2^(l-1) (1 + 1/(2^32 -
 *    1)), impossible for an integer dv > 2^(l-1). u < 2^31 and m < 2^32 fit
 *    vpmuludq's unsigned 32 x 32 -> 64 bit product (< 2^63).
 *    Then y = min(q - 128, 127): e <= S gives q <= 256; the unsigned saturating
 *    narrowing to a byte (vpmovusdb: 256 -> 255) and an exclusive or with 0x80 give
 *    q - 128 for q <= 255 and 127 for q = 256. A key that is not allowed has e = 0,
 *    q = floor(S / 2 S) = 0 and y = -128, as required.
 * A row without any allowed key is all -128.
 */
#include "pr_x86_q512.h"

/* pr_softmax_table_ok (pr_check_internal.h), 16 entries at a time: Q16 exp values in
 * [0, PR_SOFTMAX_EXP_ONE], a non-zero entry for d = 0. */
static PR_TARGET_AVX512 int pr512_softmax_table_ok(const int32_t *exp_table)
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

/* 1 when no entry but table[0] is PR_SOFTMAX_EXP_ONE (the word-table path applies). */
static PR_TARGET_AVX512 int pr_softmax_words_ok(const int32_t *exp_table)
{
    __mmask16 big = 0;
    int32_t d;
    for (d = 0; d < 256; d += 16) {
        const __m512i e = _mm512_loadu_si512(exp_table + d);
        big |= _mm512_cmpeq_epi32_mask(e, _mm512_set1_epi32(PR_SOFTMAX_EXP_ONE)) &
               (__mmask16)(d == 0 ? 0xFFFEu : 0xFFFFu);
    }
    return big == 0;
}

/* ---- the word-table path ------------------------------------------------------- */

/* Lanes 0 .. n - 1 of a 64-lane mask (n may be <= 0 or >= 64). */
static inline __mmask64 pr512_first64(int32_t n)
{
    return n <= 0 ? (__mmask64)0 : (n >= 64 ? ~(__mmask64)0 : (((__mmask64)1 << n) - 1));
}

typedef struct {
    __m512i words[8];   /* words[i] word w: exp_table[32 i + w] mod 2^16 */
    int32_t quarters;   /* 1 .. 4: exp_table[d] = 0 for d >= 64 quarters */
    int32_t one_at_0;   /* exp_table[0] = PR_SOFTMAX_EXP_ONE (word 0) */
    int32_t cols;
    const uint8_t *key_mask;
} pr512_sm;

/* exp_table[d] mod 2^16 of 32 word lanes d (0 .. 255) that are allowed (ok); 0 in the
 * other lanes. Q (= s->quarters) quarters of 64 entries are looked up, one word
 * permute each; d >= 64 Q has a zero entry. */
PR512_INLINE __m512i pr512_exp_words(const pr512_sm *s, __m512i d, __mmask32 ok, int Q)
{
    if (Q == 1) {
        ok &= _mm512_cmplt_epu16_mask(d, _mm512_set1_epi16(64));
        return _mm512_maskz_permutex2var_epi16(ok, s->words[0], d, s->words[1]);
    }
    if (Q == 2) {
        const __m512i p0 = _mm512_permutex2var_epi16(s->words[0], d, s->words[1]);
        const __m512i p1 = _mm512_permutex2var_epi16(s->words[2], d, s->words[3]);
        const __mmask32 b6 = _mm512_test_epi16_mask(d, _mm512_set1_epi16(64));
        ok &= _mm512_cmplt_epu16_mask(d, _mm512_set1_epi16(128));
        return _mm512_maskz_mov_epi16(ok, _mm512_mask_blend_epi16(b6, p0, p1));
    }
    {
        const __m512i p0 = _mm512_permutex2var_epi16(s->words[0], d, s->words[1]);
        const __m512i p1 = _mm512_permutex2var_epi16(s->words[2], d, s->words[3]);
        const __m512i p2 = _mm512_permutex2var_epi16(s->words[4], d, s->words[5]);
        const __m512i p3 = _mm512_permutex2var_epi16(s->words[6], d, s->words[7]);
        const __mmask32 b6 = _mm512_test_epi16_mask(d, _mm512_set1_epi16(64));
        const __mmask32 b7 = _mm512_test_epi16_mask(d, _mm512_set1_epi16(128));
        return _mm512_maskz_mov_epi16(
            ok, _mm512_mask_blend_epi16(b7, _mm512_mask_blend_epi16(b6, p0, p1),
                                        _mm512_mask_blend_epi16(b6, p2, p3)));
    }
}

/* max of 64 int8 lanes */
PR512_INLINE int32_t pr512_hmax_epi8(__m512i v)
{
    const __m256i a = _mm256_max_epi8(_mm512_castsi512_si256(v),
                                      _mm512_extracti64x4_epi64(v, 1));
    __m128i b = _mm_max_epi8(_mm256_castsi256_si128(a), _mm256_extracti128_si256(a, 1));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 8));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 4));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 2));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 1));
    return (int8_t)_mm_cvtsi128_si32(b);
}

/* The allowed keys j .. j + 63 of a row: inside [lo, hi), key mask, j + l < cols. */
PR512_INLINE __mmask64 pr512_allowed64(const pr512_sm *s, int32_t j, int32_t lo, int32_t hi)
{
    __mmask64 ok = pr512_first64(hi - j) & ~pr512_first64(lo - j);
    if (s->key_mask != NULL) {
        ok &= _mm512_test_epi8_mask(_mm512_maskz_loadu_epi8(ok, s->key_mask + j),
                                    _mm512_set1_epi8((char)0xFF));
    }
    return ok;
}

/* A row of a group: keys lo .. hi - 1 (lo < hi) may be allowed; the 64-key chunks
 * from j0 that meet [lo, hi) are worked on: w[j - j0] holds e_j mod 2^16, top[c] the
 * allowed keys of chunk c with x = mx (when exp_table[0] = 2^16). */
typedef struct {
    const int8_t *x;
    int8_t *y;
    uint16_t *w;
    uint64_t *top;
    int32_t lo, hi, j0;
    int32_t mx;         /* max x over the allowed keys; -129: none */
    int32_t S;          /* sum e */
} pr512_row;

/* Pass 1: mx of a row; the keys outside the chunks get -128. */
static inline PR_TARGET_AVX512 void pr512_row_max(const pr512_sm *s, pr512_row *r)
{
    const int8_t *x = r->x;
    const int32_t lo = r->lo, hi = r->hi, j0 = r->j0, cols = s->cols;
    __m512i mxv = _mm512_set1_epi8(-128);
    __mmask64 any = 0;
    int32_t j;
    for (j = j0; j < hi; j += 64) {
        const __mmask64 ok = pr512_allowed64(s, j, lo, hi);
        mxv = _mm512_mask_max_epi8(mxv, ok, mxv, _mm512_maskz_loadu_epi8(ok, x + j));
        any |= ok;
    }
    if (j0 > 0) {
        memset(r->y, 0x80, (size_t)j0);
    }
    if (hi < cols) {
        memset(r->y + hi, 0x80, (size_t)(cols - hi));
    }
    r->mx = any == 0 ? -129 : pr512_hmax_epi8(mxv);
}

/*
 * Pass 2: the words of e and S of a row with an allowed key. 32 keys at a time: w =
 * table word of d = mx - x (0 where not allowed), stored; the sum of the words by
 * vpmaddwd of w - 2^15 (signed) with ones, 2^15 added back per lane. When
 * exp_table[0] = 2^16 (word 0), each key with x = mx adds 2^16 more to S.
 */
PR512_INLINE void pr512_row_exp(const pr512_sm *s, pr512_row *r, int Q)
{
    const __m512i mxb = _mm512_set1_epi8((char)r->mx);
    const __m512i flip = _mm512_set1_epi16(-32768);
    const __m512i ones = _mm512_set1_epi16(1);
    const int8_t *x = r->x;
    uint16_t *w = r->w;
    uint64_t *top = r->top;
    const int32_t lo = r->lo, hi = r->hi, j0 = r->j0, one_at_0 = s->one_at_0;
    __m512i sumv = _mm512_setzero_si512();
    int32_t j, h, S = 0;
    for (j = j0; j < hi; j += 64) {
        const __mmask64 ok = pr512_allowed64(s, j, lo, hi);
        const __m512i xv = _mm512_maskz_loadu_epi8(ok, x + j);
        const __m512i d8 = _mm512_sub_epi8(mxb, xv);     /* mx - x, as u8 when allowed */
        if (one_at_0) {
            const __mmask64 t = _mm512_mask_cmpeq_epi8_mask(ok, xv, mxb);
            top[(j - j0) / 64] = t;
            S += PR_SOFTMAX_EXP_ONE * (int32_t)__builtin_popcountll(t);
        }
        for (h = 0; h < 2 && j + 32 * h < hi; ++h) {
            const __m256i dh = h == 0 ? _mm512_castsi512_si256(d8)
                                      : _mm512_extracti64x4_epi64(d8, 1);
            const __m512i e = pr512_exp_words(s, _mm512_cvtepu8_epi16(dh),
                                              (__mmask32)(ok >> (32 * h)), Q);
            _mm512_storeu_si512(w + (j - j0) + 32 * h, e);
            sumv = _mm512_add_epi32(sumv,
                                    _mm512_madd_epi16(_mm512_xor_si512(e, flip), ones));
            S += 32 * 32768;
        }
    }
    r->S = S + _mm512_reduce_add_epi32(sumv);   /* 1 <= S <= cols 2^16 <= 2^29 */
}

/*
 * Pass 3: the probabilities of a row with an allowed key, 16 keys at a time. When
 * exp_table[0] = 2^16 the keys with x = mx (word 0) get the byte of
 * q = floor((512 2^16 + S) / (2 S)) instead.
 */
static inline PR_TARGET_AVX512 void pr512_row_out(const pr512_sm *s, const pr512_row *r)
{
    const int32_t S = r->S, hi = r->hi, j0 = r->j0, one_at_0 = s->one_at_0;
    const uint16_t *w = r->w;
    const uint64_t *top = r->top;
    int8_t *y = r->y;
    const uint32_t dv = 2 * (uint32_t)S;
    const int32_t l = 32 - __builtin_clz(dv - 1);   /* dv >= 2: 2^(l-1) < dv <= 2^l */
    const uint32_t m = (uint32_t)((((uint64_t)1 << (31 + l)) / dv) + 1);
    const uint32_t q_top = (uint32_t)((((uint64_t)512 * PR_SOFTMAX_EXP_ONE + (uint32_t)S) * m) >>
                                      (31 + l));   /* u = 2^25 + S < 2^31 */
    const __m128i top_byte = _mm_set1_epi8((char)((q_top > 255 ? 255 : q_top) ^ 0x80));
    const __m512i Sv = _mm512_set1_epi32(S);
    const __m512i mv = _mm512_set1_epi32((int32_t)m);
    const __m128i sh_even = _mm_cvtsi32_si128(31 + l);
    const __m128i sh_odd = _mm_cvtsi32_si128(l - 1);
    const __m128i flip = _mm_set1_epi8((char)0x80);
    int32_t o;
    for (o = 0; o < hi - j0; o += 16) {
        /* u = 512 e + S < 2^31; q = floor(u m / 2^(31+l)): the even lanes' products
         * shifted down by 31 + l, the odd lanes' by l - 1 (their upper word) */
        const __m512i e = _mm512_cvtepu16_epi32(
            _mm256_loadu_si256((const __m256i *)(const void *)(w + o)));
        const __m512i u = _mm512_add_epi32(_mm512_slli_epi32(e, 9), Sv);
        const __m512i even = _mm512_mul_epu32(u, mv);
        const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(u, 32), mv);
        const __m512i q = _mm512_mask_blend_epi32(0xAAAA, _mm512_srl_epi64(even, sh_even),
                                                  _mm512_srl_epi64(odd, sh_odd));
        __m128i b = _mm_xor_si128(_mm512_cvtusepi32_epi8(q), flip);
        if (one_at_0) {
            b = _mm_mask_mov_epi8(b, (__mmask16)(top[o / 64] >> (o & 63)), top_byte);
        }
        _mm_mask_storeu_epi8(y + j0 + o, pr512_first(hi - j0 - o), b);
    }
}

enum { PR512_SM_ROWS = 4 }; /* rows of a call with cols <= 128 interleaved */

/*
 * R rows (R <= PR512_SM_ROWS) of cols <= 64 NC keys each (NC = 1 or 2) in registers,
 * the three passes above without the scratch, pass by pass over the rows so that
 * their dependency chains (reductions, division) overlap: row i at x + i cols, its
 * keys lo[i] .. hi[i] - 1 (lo[i] < hi[i]) may be allowed.
 */
PR512_INLINE void pr512_rows_short(const pr512_sm *s, const int8_t *x, int8_t *y,
                                   const int32_t *lo, const int32_t *hi, int R, int NC,
                                   int Q)
{
    const int32_t cols = s->cols;
    const __m512i flip16 = _mm512_set1_epi16(-32768);
    const __m512i ones = _mm512_set1_epi16(1);
    const __m128i flip8 = _mm_set1_epi8((char)0x80);
    __mmask64 ok[PR512_SM_ROWS][2], top[PR512_SM_ROWS][2], any[PR512_SM_ROWS];
    __m512i xv[PR512_SM_ROWS][2], w[PR512_SM_ROWS][4];
    int32_t S[PR512_SM_ROWS], mx[PR512_SM_ROWS];
    int32_t i, c, h, b;
    for (i = 0; i < R; ++i) {               /* pass 1: the maxima */
        __m512i mxv = _mm512_set1_epi8(-128);
        any[i] = 0;
        for (c = 0; c < NC; ++c) {
            ok[i][c] = pr512_allowed64(s, 64 * c, lo[i], hi[i]);
            xv[i][c] = _mm512_maskz_loadu_epi8(ok[i][c], x + i * cols + 64 * c);
            mxv = _mm512_mask_max_epi8(mxv, ok[i][c], mxv, xv[i][c]);
            any[i] |= ok[i][c];
        }
        mx[i] = pr512_hmax_epi8(mxv);
    }
    for (i = 0; i < R; ++i) {               /* pass 2: the words of e and S */
        const __m512i mxb = _mm512_set1_epi8((char)mx[i]);
        __m512i sumv = _mm512_setzero_si512();
        S[i] = 0;
        for (c = 0; c < NC; ++c) {
            const __m512i d8 = _mm512_sub_epi8(mxb, xv[i][c]); /* mx - x, u8 if allowed */
            top[i][c] = 0;
            if (s->one_at_0) {
                top[i][c] = _mm512_mask_cmpeq_epi8_mask(ok[i][c], xv[i][c], mxb);
                S[i] += PR_SOFTMAX_EXP_ONE * (int32_t)__builtin_popcountll(top[i][c]);
            }
            for (h = 0; h < 2; ++h) {
                const __m256i dh = h == 0 ? _mm512_castsi512_si256(d8)
                                          : _mm512_extracti64x4_epi64(d8, 1);
                w[i][2 * c + h] = _mm512_setzero_si512();
                if (64 * c + 32 * h < cols) {
                    w[i][2 * c + h] = pr512_exp_words(s, _mm512_cvtepu8_epi16(dh),
                                                      (__mmask32)(ok[i][c] >> (32 * h)), Q);
                    sumv = _mm512_add_epi32(
                        sumv,
                        _mm512_madd_epi16(_mm512_xor_si512(w[i][2 * c + h], flip16), ones));
                    S[i] += 32 * 32768;
                }
            }
        }
        S[i] += _mm512_reduce_add_epi32(sumv);  /* 1 <= S <= cols 2^16 <= 2^29 */
    }
    for (i = 0; i < R; ++i) {               /* pass 3: the probabilities */
        uint32_t dv, m, q_top;
        int32_t l;
        __m128i top_byte, sh_even, sh_odd;
        __m512i Sv, mv;
        if (any[i] == 0) { /* no allowed key: every probability is 0 (q = -128) */
            memset(y + i * cols, 0x80, (size_t)cols);
            continue;
        }
        dv = 2 * (uint32_t)S[i];
        l = 32 - __builtin_clz(dv - 1);     /* dv >= 2: 2^(l-1) < dv <= 2^l */
        m = (uint32_t)((((uint64_t)1 << (31 + l)) / dv) + 1);
        q_top = (uint32_t)((((uint64_t)512 * PR_SOFTMAX_EXP_ONE + (uint32_t)S[i]) * m) >>
                           (31 + l));
        top_byte = _mm_set1_epi8((char)((q_top > 255 ? 255 : q_top) ^ 0x80));
        Sv = _mm512_set1_epi32(S[i]);
        mv = _mm512_set1_epi32((int32_t)m);
        sh_even = _mm_cvtsi32_si128(31 + l);
        sh_odd = _mm_cvtsi32_si128(l - 1);
        for (b = 0; b < 4 * NC && 16 * b < cols; ++b) {
            const __m512i wv = w[i][b / 2];
            const __m512i e = _mm512_cvtepu16_epi32(
                b % 2 == 0 ? _mm512_castsi512_si256(wv) : _mm512_extracti64x4_epi64(wv, 1));
            const __m512i u = _mm512_add_epi32(_mm512_slli_epi32(e, 9), Sv);
            const __m512i even = _mm512_mul_epu32(u, mv);
            const __m512i odd = _mm512_mul_epu32(_mm512_srli_epi64(u, 32), mv);
            const __m512i q = _mm512_mask_blend_epi32(
                0xAAAA, _mm512_srl_epi64(even, sh_even), _mm512_srl_epi64(odd, sh_odd));
            __m128i out = _mm_xor_si128(_mm512_cvtusepi32_epi8(q), flip8);
            out = _mm_mask_mov_epi8(out, (__mmask16)(top[i][b / 4] >> (16 * (b % 4))),
                                    top_byte);
            _mm_mask_storeu_epi8(y + i * cols + 16 * b, pr512_first(cols - 16 * b), out);
        }
    }
}

/* Every row of a call with cols <= 64 NC, PR512_SM_ROWS at a time (a row the window
 * misses is all -128 and joins no group). */
PR512_INLINE void pr512_softmax_short(const pr_softmax_params *p, const pr512_sm *s,
                                      const int8_t *x, int8_t *y, int NC, int Q)
{
    const int64_t total = (int64_t)p->batches * p->rows;
    const int32_t half = p->window / 2;
    int32_t lo[PR512_SM_ROWS], hi[PR512_SM_ROWS];
    int64_t g, first = 0;
    int32_t n = 0, t = 0;
    for (g = 0; g < total; ++g) {
        int32_t a = 0, z = p->cols;
        if (p->window > 0) {
            a = t - half > 0 ? t - half : 0;
            z = t + half + 1 < z ? t + half + 1 : z;
        }
        t = t + 1 == p->rows ? 0 : t + 1;
        if (a >= z) { /* the window misses the keys: flush the group, write the row */
            if (n > 0) {
                pr512_rows_short(s, x + first * p->cols, y + first * p->cols, lo, hi, n,
                                 NC, Q);
                n = 0;
            }
            memset(y + g * p->cols, 0x80, (size_t)p->cols);
            continue;
        }
        if (n == 0) {
            first = g;
        }
        lo[n] = a;
        hi[n] = z;
        if (++n == PR512_SM_ROWS) {
            pr512_rows_short(s, x + first * p->cols, y + first * p->cols, lo, hi,
                             PR512_SM_ROWS, NC, Q);
            n = 0;
        }
    }
    if (n > 0) {
        pr512_rows_short(s, x + first * p->cols, y + first * p->cols, lo, hi, n, NC, Q);
    }
}

#define PR512_SM_SHORT(NC, Q)                                                          \
    static PR_TARGET_AVX512 void pr512_softmax_short_##NC##_##Q(                         \
        const pr_softmax_params *p, const pr512_sm *s, const int8_t *x, int8_t *y)       \
    {                                                                                  \
        pr512_softmax_short(p, s, x, y, NC, Q);                                        \
    }
PR512_SM_SHORT(1, 1)
PR512_SM_SHORT(1, 2)
PR512_SM_SHORT(1, 4)
PR512_SM_SHORT(2, 1)
PR512_SM_SHORT(2, 2)
PR512_SM_SHORT(2, 4)
#undef PR512_SM_SHORT

static PR_TARGET_AVX512 void pr512_group_exp_q1(const pr512_sm *s, pr512_row *r)
{
    pr512_row_exp(s, r, 1);
}
static PR_TARGET_AVX512 void pr512_group_exp_q2(const pr512_sm *s, pr512_row *r)
{
    pr512_row_exp(s, r, 2);
}
static PR_TARGET_AVX512 void pr512_group_exp_q4(const pr512_sm *s, pr512_row *r)
{
    pr512_row_exp(s, r, 4);
}

/* Rows of a group pass by pass, so that their reductions and divisions overlap. */
static PR_TARGET_AVX512 void pr512_softmax_group(const pr512_sm *s, pr512_row *rows,
                                                 int32_t n)
{
    void (*exp_pass)(const pr512_sm *, pr512_row *) =
        s->quarters == 1 ? pr512_group_exp_q1
                         : (s->quarters == 2 ? pr512_group_exp_q2 : pr512_group_exp_q4);
    int32_t i;
    for (i = 0; i < n; ++i) {
        pr512_row_max(s, &rows[i]);
    }
    for (i = 0; i < n; ++i) {
        if (rows[i].mx != -129) {
            exp_pass(s, &rows[i]);
        }
    }
    for (i = 0; i < n; ++i) {
        if (rows[i].mx != -129) {
            pr512_row_out(s, &rows[i]);
        } else { /* no allowed key: every probability is 0 (q = -128) */
            memset(rows[i].y + rows[i].j0, 0x80, (size_t)(rows[i].hi - rows[i].j0));
        }
    }
}

/* The words of the table (entries mod 2^16; 2^16 only at d = 0 here) and the number
 * of 64-entry quarters that hold its non-zero entries. */
static inline PR_TARGET_AVX512 void pr512_sm_init(const int32_t *exp_table, pr512_sm *s)
{
    int32_t i, last = 0;
    for (i = 0; i < 8; ++i) {
        const __m512i a = _mm512_loadu_si512(exp_table + 32 * i);
        const __m512i b = _mm512_loadu_si512(exp_table + 32 * i + 16);
        s->words[i] = _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi32_epi16(a)),
                                         _mm512_cvtepi32_epi16(b), 1);
    }
    for (i = 0; i < 256; ++i) {
        last = exp_table[i] != 0 ? i : last;
    }
    s->quarters = last / 64 + 1;
    s->one_at_0 = exp_table[0] == PR_SOFTMAX_EXP_ONE;
}

/* ---- the gather path (tables with 65536 beyond d = 0) ------------------------------ */

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

/* floor(a / d) for 0 <= a < 2^31, d >= 2, R = floor(2^31 / d): q0 = floor(a R / 2^31)
 * satisfies a/d - 1 < q0 <= a/d, so q = q0 + (a - q0 d >= d). */
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

/* One row by gathers of the int32 table (keys lo .. hi - 1 may be allowed). */
static PR_TARGET_AVX512 void pr512_softmax_row_gather(int32_t cols, int32_t lo, int32_t hi,
                                                      const int8_t *x,
                                                      const int32_t *exp_table,
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

/* ---- the kernel ---------------------------------------------------------------- */

enum { PR512_SM_SCRATCH = PR_SOFTMAX_MAX_COLS + 64, PR512_SM_GROUP = 8 };

static PR_TARGET_AVX512 void pr512_softmax_words(const pr_softmax_params *p, const int8_t *x,
                                                 const int32_t *exp_table,
                                                 const uint8_t *key_mask, int8_t *y)
{
    uint16_t w[PR512_SM_SCRATCH];
    uint64_t top[PR512_SM_SCRATCH / 64];
    pr512_row rows[PR512_SM_GROUP];
    pr512_sm s;
    /* rows per group: as many as their words fit the scratch (the chunks of a row
     * span at most cols + 63 keys) */
    const int64_t stride = ((int64_t)p->cols + 127) & ~(int64_t)63;
    const int32_t group = PR512_SM_SCRATCH / stride < PR512_SM_GROUP
                              ? (int32_t)(PR512_SM_SCRATCH / stride) : PR512_SM_GROUP;
    const int64_t total = (int64_t)p->batches * p->rows;
    int64_t g;
    int32_t n = 0;
    pr512_sm_init(exp_table, &s);
    s.cols = p->cols;
    s.key_mask = key_mask;
    if (p->cols <= 128) { /* whole rows in registers */
        static void (*const shorts[2][3])(const pr_softmax_params *, const pr512_sm *,
                                          const int8_t *, int8_t *) = {
            {pr512_softmax_short_1_1, pr512_softmax_short_1_2, pr512_softmax_short_1_4},
            {pr512_softmax_short_2_1, pr512_softmax_short_2_2, pr512_softmax_short_2_4}};
        shorts[p->cols > 64][s.quarters > 2 ? 2 : s.quarters - 1](p, &s, x, y);
        return;
    }
    for (g = 0; g < total; ++g) {
        const int64_t t = g % p->rows;         /* the query position of row g */
        const int64_t off = g * p->cols;
        int32_t lo, hi;
        pr_softmax_window(p, t, &lo, &hi);
        if (lo >= hi) { /* the window misses the keys */
            memset(y + off, 0x80, (size_t)p->cols);
            continue;
        }
        rows[n].x = x + off;
        rows[n].y = y + off;
        rows[n].w = w + n * stride;
        rows[n].top = top + n * (stride / 64);
        rows[n].lo = lo;
        rows[n].hi = hi;
        rows[n].j0 = lo & ~63;
        if (++n == group) {
            pr512_softmax_group(&s, rows, n);
            n = 0;
        }
    }
    if (n > 0) {
        pr512_softmax_group(&s, rows, n);
    }
}

static PR_TARGET_AVX512 void pr512_softmax_gather(const pr_softmax_params *p,
                                                  const int8_t *x, const int32_t *exp_table,
                                                  const uint8_t *key_mask, int8_t *y)
{
    int32_t e[PR_SOFTMAX_MAX_COLS + 16];
    __mmask16 key_ok[PR_SOFTMAX_MAX_COLS / 16];
    int64_t h, t;
    pr512_key_lanes(p->cols, key_mask, key_ok);
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int32_t lo, hi;
            pr_softmax_window(p, t, &lo, &hi);
            pr512_softmax_row_gather(p->cols, lo, hi, x + off, exp_table,
                                     key_ok, y + off, e);
        }
    }
}

pr_status pr_softmax_s8(const pr_softmax_params *p, const int8_t *x,
                        const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    const pr_status st = pr_softmax_check_shape(p, x, exp_table, y);
    if (st != PR_OK) {
        return st;
    }
    if (!pr512_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    if (pr_softmax_words_ok(exp_table)) {
        pr512_softmax_words(p, x, exp_table, key_mask, y);
    } else {
        pr512_softmax_gather(p, x, exp_table, key_mask, y);
    }
    return PR_OK;
}
