/*
 * pr_softmax_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_softmax_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * Per row, the 32-key chunks that meet the row's window [lo, hi) (all chunks without
 * a window); a byte of 0xFF marks an allowed key (key mask and window). A row is
 * copied to a buffer padded to whole chunks, so that nothing is read or written past
 * it.
 * 1. mx = max x over the allowed keys (vpmaxsb over the chunks, not-allowed keys as
 *    -128; no allowed key at all: the row is all -128).
 * 2. e_j = exp_table[mx - x_j] for the allowed keys (vpgatherdd of the int32 table,
 *    masked: other keys get e = 0 and read nothing), stored; S = sum e <= 2^29.
 * 3. q_j = floor(u / dv), u = 512 e_j + S < 2^31, dv = 2 S, without a division per
 *    key: with l = ceil(log2 dv) and m = floor(2^(31 + l) / dv) + 1 < 2^32 (one
 *    64-bit division per row), q_j = floor(u m / 2^(31 + l)) (Granlund & Montgomery
 *    1994, Thm 4.2; the proof is in the AVX-512 variant, pr_softmax_s8_avx512vnni.c).
 *    Then y = min(q - 128, 127): q <= 256; the unsigned saturating packs (256 ->
 *    255) and an exclusive or with 0x80 give q - 128 for q <= 255 and 127 for 256.
 *    A key that is not allowed has e = 0, q = floor(S / 2 S) = 0 and y = -128.
 * The keys outside the chunks that meet the window get -128.
 */
#include "pr_x86_q256.h"

enum { PR256_SM_PAD = PR_SOFTMAX_MAX_COLS + 32 };

typedef struct {
    const int32_t *table;
    const uint8_t *allowed;   /* key mask as 0x00 / 0xFF, padded with 0x00 */
    int32_t cols;
    int8_t *xb;               /* 32 bytes: a short last chunk */
    int32_t *e;               /* e of the row's keys */
} pr256_sm;

/* The allowed keys j .. j + 31 of a row whose window is [lo, hi). */
PR256_INLINE __m256i pr256_sm_allowed(const pr256_sm *s, int32_t j, int32_t lo, int32_t hi)
{
    const __m256i iota = _mm256_setr_epi8(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
                                          15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26,
                                          27, 28, 29, 30, 31);
    const int32_t a = lo - j < 0 ? 0 : (lo - j > 32 ? 32 : lo - j);   /* lanes a .. b - 1 */
    const int32_t b = hi - j < 0 ? 0 : (hi - j > 32 ? 32 : hi - j);
    const __m256i in = _mm256_andnot_si256(
        _mm256_cmpgt_epi8(_mm256_set1_epi8((char)a), iota),
        _mm256_cmpgt_epi8(_mm256_set1_epi8((char)b), iota));
    return _mm256_and_si256(in, _mm256_loadu_si256((const __m256i *)(const void *)(s->allowed + j)));
}

/* max of 32 int8 lanes */
PR256_INLINE int32_t pr256_hmax_epi8(__m256i v)
{
    __m128i b = _mm_max_epi8(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 8));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 4));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 2));
    b = _mm_max_epi8(b, _mm_srli_si128(b, 1));
    return (int8_t)_mm_cvtsi128_si32(b);
}

/* Pass 2 on the chunk at x + j: e of its 32 keys stored at e (0 where not allowed),
 * their sum in 8 lanes. Scalar lookups of the table, extended by a zero at 256. */
PR256_INLINE __m256i pr256_sm_exp32(const pr256_sm *s, const int8_t *x, int32_t j,
                                    int32_t lo, int32_t hi, __m256i mxb, int32_t *e)
{
    const __m256i ok = pr256_sm_allowed(s, j, lo, hi);
    const __m256i d8 = _mm256_sub_epi8(mxb, _mm256_loadu_si256((const __m256i *)(const void *)(x + j)));
    uint16_t d[32];
    int32_t g;
    /* index: mx - x (u8) where allowed, else 256 */
    const __m256i none = _mm256_set1_epi16(256);
    const __m256i dlo = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(d8));
    const __m256i dhi = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(d8, 1));
    const __m256i olo = _mm256_cvtepi8_epi16(_mm256_castsi256_si128(ok));
    const __m256i ohi = _mm256_cvtepi8_epi16(_mm256_extracti128_si256(ok, 1));
    _mm256_storeu_si256((__m256i *)(void *)d, _mm256_blendv_epi8(none, dlo, olo));
    _mm256_storeu_si256((__m256i *)(void *)(d + 16), _mm256_blendv_epi8(none, dhi, ohi));
    for (g = 0; g < 32; ++g) {
        e[g] = s->table[d[g]];
    }
    {
        const __m256i e0 = _mm256_loadu_si256((const __m256i *)(void *)e);
        const __m256i e1 = _mm256_loadu_si256((const __m256i *)(void *)(e + 8));
        const __m256i e2 = _mm256_loadu_si256((const __m256i *)(void *)(e + 16));
        const __m256i e3 = _mm256_loadu_si256((const __m256i *)(void *)(e + 24));
        return _mm256_add_epi32(_mm256_add_epi32(e0, e1), _mm256_add_epi32(e2, e3));
    }
}

/* Pass 3: q of 8 keys from their e */
PR256_INLINE __m256i pr256_sm_q8(const int32_t *e, __m256i Sv, __m256i mv, __m128i sh_even,
                                 __m128i sh_odd)
{
    const __m256i u = _mm256_add_epi32(_mm256_slli_epi32(_mm256_loadu_si256((const __m256i *)(const void *)e), 9), Sv);
    const __m256i even = _mm256_mul_epu32(u, mv);
    const __m256i odd = _mm256_mul_epu32(_mm256_srli_epi64(u, 32), mv);
    return _mm256_blend_epi32(_mm256_srl_epi64(even, sh_even), _mm256_srl_epi64(odd, sh_odd),
                              0xAA);
}

/* Pass 3 on a chunk: the 32 probabilities from its e */
PR256_INLINE __m256i pr256_sm_out32(const int32_t *e, __m256i Sv, __m256i mv,
                                    __m128i sh_even, __m128i sh_odd)
{
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i q0 = pr256_sm_q8(e, Sv, mv, sh_even, sh_odd);
    const __m256i q1 = pr256_sm_q8(e + 8, Sv, mv, sh_even, sh_odd);
    const __m256i q2 = pr256_sm_q8(e + 16, Sv, mv, sh_even, sh_odd);
    const __m256i q3 = pr256_sm_q8(e + 24, Sv, mv, sh_even, sh_odd);
    /* 0 <= q <= 256: the packs to u8 saturate 256 to 255; then the 32-bit groups back
     * in key order */
    __m256i b = _mm256_packus_epi16(_mm256_packus_epi32(q0, q1), _mm256_packus_epi32(q2, q3));
    b = _mm256_permutevar8x32_epi32(b, order);
    return _mm256_xor_si256(b, _mm256_set1_epi8((char)0x80));
}

/*
 * One row: keys lo .. hi - 1 may be allowed (lo < hi). The chunks j0, j0 + 32, ...
 * below jf lie inside the row; when the window reaches the row's end and cols is not
 * a multiple of 32, its last keys jf .. cols - 1 are the tail chunk: the 32 keys
 * cols - 32 .. cols - 1 read in place (rows of 32 keys or more), or a zero-padded
 * copy of the tail at s->xb (shorter rows). The tail's pass 2 counts only keys >= jf
 * (its other keys get e = 0, in a buffer of its own); its probabilities are stored
 * first, so that the chunks before it overwrite the keys they share.
 */
static PR_TARGET_AVX2 void pr256_sm_row(const pr256_sm *s, const int8_t *x, int8_t *y,
                                        int32_t lo, int32_t hi)
{
    const int32_t cols = s->cols;
    const int32_t j0 = lo & ~31;
    const int32_t j1 = (hi + 31) & ~31;          /* the chunks j0 .. j1 - 32 meet [lo, hi) */
    const int32_t tail = j1 > cols;
    const int32_t jf = tail ? j1 - 32 : j1;      /* the chunks inside the row end here */
    const int32_t tj = cols >= 32 ? cols - 32 : jf;           /* the tail chunk's start */
    const int8_t *tx = cols >= 32 ? x : s->xb - jf;           /* ... and its keys at tx + tj */
    int32_t et[32];
    __m256i mxv = _mm256_set1_epi8(-128), any = _mm256_setzero_si256(), sumv, mxb, Sv, mv;
    __m128i t, sh_even, sh_odd;
    int32_t j, mx, S, l;
    uint32_t dv, m;
    if (j0 > 0) {
        memset(y, 0x80, (size_t)j0);
    }
    if (j1 < cols) {
        memset(y + j1, 0x80, (size_t)(cols - j1));
    }
    if (tail && cols < 32) {
        pr256_copy_lt32(s->xb, x + jf, (size_t)(cols - jf));
    }
    for (j = j0; j < jf + (tail ? 32 : 0); j += 32) {     /* pass 1 */
        const int32_t jj = j < jf ? j : tj;
        const __m256i ok = pr256_sm_allowed(s, jj, lo, hi);
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)((j < jf ? x : tx) + jj));
        mxv = _mm256_max_epi8(mxv, _mm256_blendv_epi8(_mm256_set1_epi8(-128), xv, ok));
        any = _mm256_or_si256(any, ok);
    }
    if (_mm256_testz_si256(any, any)) { /* no allowed key: every probability is 0 */
        memset(y + j0, 0x80, (size_t)((j1 < cols ? j1 : cols) - j0));
        return;
    }
    mx = pr256_hmax_epi8(mxv);
    mxb = _mm256_set1_epi8((char)mx);
    sumv = _mm256_setzero_si256();
    for (j = j0; j < jf; j += 32) {                        /* pass 2 */
        sumv = _mm256_add_epi32(sumv, pr256_sm_exp32(s, x, j, lo, hi, mxb, s->e + j));
    }
    if (tail) {
        sumv = _mm256_add_epi32(sumv, pr256_sm_exp32(s, tx, tj, lo > jf ? lo : jf, hi, mxb, et));
    }
    t = _mm_add_epi32(_mm256_castsi256_si128(sumv), _mm256_extracti128_si256(sumv, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    S = _mm_cvtsi128_si32(t);                    /* 1 <= S <= cols 2^16 <= 2^29 */
    dv = 2 * (uint32_t)S;
    l = 32 - __builtin_clz(dv - 1);              /* dv >= 2: 2^(l-1) < dv <= 2^l */
    m = (uint32_t)((((uint64_t)1 << (31 + l)) / dv) + 1);
    Sv = _mm256_set1_epi32(S);
    mv = _mm256_set1_epi32((int32_t)m);
    sh_even = _mm_cvtsi32_si128(31 + l);
    sh_odd = _mm_cvtsi32_si128(l - 1);          /* the odd lanes' result: upper word */
    if (tail) {                                            /* pass 3, the tail first */
        const __m256i b = pr256_sm_out32(et, Sv, mv, sh_even, sh_odd);
        if (cols >= 32) {
            _mm256_storeu_si256((__m256i *)(void *)(y + tj), b);
        } else {
            _mm256_storeu_si256((__m256i *)(void *)s->xb, b);
            pr256_copy_lt32(y + jf, s->xb, (size_t)(cols - jf));
        }
    }
    for (j = j0; j < jf; j += 32) {
        _mm256_storeu_si256((__m256i *)(void *)(y + j),
                            pr256_sm_out32(s->e + j, Sv, mv, sh_even, sh_odd));
    }
}

static PR_TARGET_AVX2 void pr256_softmax(const pr_softmax_params *p, const int8_t *x,
                                         const int32_t *exp_table, const uint8_t *key_mask,
                                         int8_t *y)
{
    uint8_t allowed[PR256_SM_PAD];
    int8_t xb[32];
    int32_t e[PR256_SM_PAD], table[257];
    pr256_sm s;
    int64_t h, t;
    int32_t j;
    for (j = 0; j < p->cols; ++j) {
        allowed[j] = key_mask == NULL || key_mask[j] != 0 ? 0xFF : 0x00;
    }
    memset(allowed + p->cols, 0, 32);
    memcpy(table, exp_table, 256 * sizeof *table);
    table[256] = 0;
    s.table = table;
    s.allowed = allowed;
    s.cols = p->cols;
    s.xb = xb;
    s.e = e;
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int64_t lo = 0;
            int64_t hi = p->cols;
            if (p->window > 0) {
                lo = t - p->window / 2 > 0 ? t - p->window / 2 : 0;
                hi = t + p->window / 2 + 1 < hi ? t + p->window / 2 + 1 : hi;
            }
            if (lo >= hi) { /* the window misses the keys */
                memset(y + off, 0x80, (size_t)p->cols);
                continue;
            }
            pr256_sm_row(&s, x + off, y + off, (int32_t)lo, (int32_t)hi);
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
    if (!pr_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    pr256_softmax(p, x, exp_table, key_mask, y);
    return PR_OK;
}
