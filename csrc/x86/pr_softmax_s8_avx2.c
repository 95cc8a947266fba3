/*
 * pr_softmax_s8, AVX2 variant: same prototype, checks and results as
 * csrc/pr_softmax_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * A row's keys that may be allowed, [lo, hi) (the window; every key without one), are
 * worked on in chunks of 32 keys from lo; when a chunk would pass the row's end, the
 * last 32 keys of the row are taken instead (the tail chunk), so that nothing is read
 * or written past the row. A byte of 0xFF marks an allowed key (key mask and window).
 * Rows run in groups of up to 4, each pass below over the group's rows in turn, so
 * that their dependency chains (reductions, division) overlap. Rows shorter than 32
 * keys (SpeechFormer's windows) take scalar code, pr256_sm_row_short.
 * 1. mx = max x over the allowed keys (vpmaxsb, not-allowed keys as -128; no allowed
 *    key at all: the row is all -128).
 * 2. e_j = exp_table[mx - x_j] for the allowed keys, 8 keys at a time (the groups that
 *    meet [lo, hi) only), others e = 0; S = sum e <= 2^29. The tail chunk counts only
 *    its keys past the chunks before it, and keeps its e apart.
 * 3. q_j = floor(u / dv), u = 512 e_j + S < 2^31, dv = 2 S, without a division per
 *    key: with l = ceil(log2 dv) and m = floor(2^(31 + l) / dv) + 1 < 2^32 (one
 *    64-bit division per row), q_j = floor(u m / 2^(31 + l)) (Granlund & Montgomery
 *    1994, Thm 4.2; the proof is in the AVX-512 variant, pr_softmax_s8_avx512vnni.c).
 *    Then y = min(q - 128, 127): q <= 256; the unsigned saturating packs (256 ->
 *    255) and an exclusive or with 0x80 give q - 128 for q <= 255 and 127 for 256.
 *    A key that is not allowed has e = 0, q = floor(S / 2 S) = 0 and y = -128. The
 *    tail chunk is stored first, then the chunks before it overwrite the keys they
 *    share with it; rows with a window are first filled with -128.
 */
#include "pr_x86_q256.h"

enum { PR256_SM_PAD = PR_SOFTMAX_MAX_COLS + 32 };

typedef struct {
    const int32_t *table;
    const uint8_t *allowed;   /* key mask as 0x00 / 0xFF, padded with 32 x 0x00 */
    int32_t cols;
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

/* Fill y[0 .. n) with -128, n >= 32 (32-byte stores, the last one overlapping). */
PR256_INLINE void pr256_fill_m128(int8_t *y, int32_t n)
{
    const __m256i f = _mm256_set1_epi8((char)0x80);
    int32_t j;
    for (j = 0; j + 32 < n; j += 32) {
        _mm256_storeu_si256((__m256i *)(void *)(y + j), f);
    }
    _mm256_storeu_si256((__m256i *)(void *)(y + n - 32), f);
}

/* exp_table[d] of 8 lanes d (0 .. 255) where m is set, else 0 */
PR256_INLINE __m256i pr256_sm_lookup8(const int32_t *table, __m256i d, __m256i m)
{
#ifdef PR256_SM_GATHER
    return _mm256_mask_i32gather_epi32(_mm256_setzero_si256(), table, d, m, 4);
#else
    int32_t i[8];
    _mm256_storeu_si256((__m256i *)(void *)i, d);
    return _mm256_and_si256(m, _mm256_setr_epi32(table[i[0]], table[i[1]], table[i[2]],
                                                 table[i[3]], table[i[4]], table[i[5]],
                                                 table[i[6]], table[i[7]]));
#endif
}

/* Pass 2 on the chunk at x + j: e of its 32 keys stored at e (0 where not allowed;
 * the groups of 8 keys outside [lo, hi) are not looked up), their sum in 8 lanes. */
PR256_INLINE __m256i pr256_sm_exp32(const pr256_sm *s, const int8_t *x, int32_t j,
                                    int32_t lo, int32_t hi, __m256i mxb, int32_t *e)
{
    const __m256i ok = pr256_sm_allowed(s, j, lo, hi);
    const __m256i d8 = _mm256_sub_epi8(mxb, _mm256_loadu_si256((const __m256i *)(const void *)(x + j)));
    __m256i sum = _mm256_setzero_si256();
    int32_t g;
    for (g = 0; g < 4; ++g) { /* mx - x of allowed keys, read as u8: 0 .. 255 */
        __m256i eg = _mm256_setzero_si256();
        if (j + 8 * g < hi && j + 8 * g + 8 > lo) {
            const __m128i dg = g < 2 ? _mm256_castsi256_si128(d8) : _mm256_extracti128_si256(d8, 1);
            const __m128i og = g < 2 ? _mm256_castsi256_si128(ok) : _mm256_extracti128_si256(ok, 1);
            eg = pr256_sm_lookup8(s->table,
                                  _mm256_cvtepu8_epi32((g & 1) ? _mm_srli_si128(dg, 8) : dg),
                                  _mm256_cvtepi8_epi32((g & 1) ? _mm_srli_si128(og, 8) : og));
            sum = _mm256_add_epi32(sum, eg);
        }
        _mm256_storeu_si256((__m256i *)(void *)(e + 8 * g), eg);
    }
    return sum;
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

/* The reciprocal of pass 3 for the sum S: m and the shift 31 + l. */
static inline void pr256_sm_recip(int32_t S, uint32_t *m, int32_t *shift)
{
    const uint32_t dv = 2 * (uint32_t)S;          /* 2 <= dv <= 2^30 */
    const int32_t l = 32 - __builtin_clz(dv - 1); /* 2^(l-1) < dv <= 2^l */
    *m = (uint32_t)((((uint64_t)1 << (31 + l)) / dv) + 1);
    *shift = 31 + l;
}

/*
 * A row shorter than 32 keys (SpeechFormer's windows: 12 keys, 5 allowed), in scalar
 * code: too short for the chunks to pay off. The reference's steps, with the row's
 * reciprocal instead of a division per key.
 */
static void pr256_sm_row_short(const pr256_sm *s, const int8_t *x, int8_t *y, int32_t lo,
                               int32_t hi)
{
    const uint8_t *ok = s->allowed;
    const uint64_t fill = 0x8080808080808080u;
    int32_t e[32];
    int32_t j, sh, mx = -129, S = 0;
    uint32_t m;
    if (s->cols >= 8) { /* y = -128: 8-byte stores, the last one overlapping */
        for (j = 0; j + 8 < s->cols; j += 8) {
            memcpy(y + j, &fill, 8);
        }
        memcpy(y + s->cols - 8, &fill, 8);
    } else {
        for (j = 0; j < s->cols; ++j) {
            y[j] = -128;
        }
    }
    for (j = lo; j < hi; ++j) { /* branch-free: the scores are random */
        const int32_t v = ok[j] ? x[j] : -129;
        mx = v > mx ? v : mx;
    }
    if (mx == -129) { /* no allowed key: every probability is 0 */
        return;
    }
    for (j = lo; j < hi; ++j) { /* S <= 31 2^16 */
        e[j] = ok[j] ? s->table[mx - x[j]] : 0;
        S += e[j];
    }
    pr256_sm_recip(S, &m, &sh);
    for (j = lo; j < hi; ++j) { /* q = floor((512 e + S) / (2 S)) <= 256; e = 0 gives -128 */
        const uint32_t q = (uint32_t)(((uint64_t)(512 * (uint32_t)e[j] + (uint32_t)S) * m) >> sh);
        y[j] = (int8_t)(q > 255 ? 127 : (int32_t)q - 128);
    }
}

/*
 * A row of 32 keys or more, in three passes (pr256_sm_max, _exp, _out) so that the rows
 * of a group can run each pass in turn and their dependency chains (reductions,
 * division) overlap: keys lo .. hi - 1 may be allowed (lo < hi). The chunks lo,
 * lo + 32, ... below jf lie inside the row; the tail chunk, the row's last 32 keys,
 * covers the keys jf .. hi - 1 that remain. e: the full chunks' e, then the tail's.
 */
typedef struct {
    const int8_t *x;
    int8_t *y;
    int32_t *e;
    int32_t lo, hi, jf, tail;
    int32_t mx;               /* max x over the allowed keys, -129: none */
    int32_t S;                /* sum e */
} pr256_smr;

static inline PR_TARGET_AVX2 void pr256_sm_max(const pr256_sm *s, pr256_smr *r,
                                               const int8_t *x, int8_t *y, int32_t *e,
                                               int32_t lo, int32_t hi)
{
    const int32_t cols = s->cols;
    const int32_t chunks = (hi - lo + 31) / 32;
    const int32_t inside = (cols - lo) / 32;        /* chunks from lo inside the row */
    const int32_t full = chunks < inside ? chunks : inside;
    __m256i mxv = _mm256_set1_epi8(-128), any = _mm256_setzero_si256();
    int32_t j;
    r->x = x;
    r->y = y;
    r->e = e;
    r->lo = lo;
    r->hi = hi;
    r->jf = lo + 32 * full;
    r->tail = full < chunks;                       /* then jf + 32 > cols */
    for (j = 0; j < chunks; ++j) {
        const int32_t c = j < full ? lo + 32 * j : cols - 32;
        const __m256i ok = pr256_sm_allowed(s, c, lo, hi);
        const __m256i xv = _mm256_loadu_si256((const __m256i *)(const void *)(x + c));
        mxv = _mm256_max_epi8(mxv, _mm256_blendv_epi8(_mm256_set1_epi8(-128), xv, ok));
        any = _mm256_or_si256(any, ok);
    }
    r->mx = _mm256_testz_si256(any, any) ? -129 : pr256_hmax_epi8(mxv);
}

static inline PR_TARGET_AVX2 void pr256_sm_exp(const pr256_sm *s, pr256_smr *r)
{
    const __m256i mxb = _mm256_set1_epi8((char)r->mx);
    __m256i sumv = _mm256_setzero_si256();
    __m128i t;
    int32_t j;
    for (j = r->lo; j < r->jf; j += 32) {
        sumv = _mm256_add_epi32(sumv, pr256_sm_exp32(s, r->x, j, r->lo, r->hi, mxb,
                                                     r->e + (j - r->lo)));
    }
    if (r->tail) { /* only its keys past jf count */
        sumv = _mm256_add_epi32(sumv, pr256_sm_exp32(s, r->x, s->cols - 32, r->jf, r->hi,
                                                     mxb, r->e + (r->jf - r->lo)));
    }
    t = _mm_add_epi32(_mm256_castsi256_si128(sumv), _mm256_extracti128_si256(sumv, 1));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0x4E));
    t = _mm_add_epi32(t, _mm_shuffle_epi32(t, 0xB1));
    r->S = _mm_cvtsi128_si32(t);                 /* 1 <= S <= cols 2^16 <= 2^29 */
}

static inline PR_TARGET_AVX2 void pr256_sm_out(const pr256_sm *s, const pr256_smr *r)
{
    const int32_t cols = s->cols;
    __m256i Sv, mv;
    __m128i sh_even, sh_odd;
    int32_t j, sh;
    uint32_t m;
    if (r->mx == -129 || r->lo > 0 || r->hi < cols) { /* keys that stay -128 */
        pr256_fill_m128(r->y, cols);
        if (r->mx == -129) { /* no allowed key: every probability is 0 */
            return;
        }
    }
    pr256_sm_recip(r->S, &m, &sh);
    Sv = _mm256_set1_epi32(r->S);
    mv = _mm256_set1_epi32((int32_t)m);
    sh_even = _mm_cvtsi32_si128(sh);
    sh_odd = _mm_cvtsi32_si128(sh - 32);        /* the odd lanes' result: upper word */
    if (r->tail) { /* first: the chunks before it overwrite the keys they share */
        _mm256_storeu_si256((__m256i *)(void *)(r->y + cols - 32),
                            pr256_sm_out32(r->e + (r->jf - r->lo), Sv, mv, sh_even, sh_odd));
    }
    for (j = r->lo; j < r->jf; j += 32) {
        _mm256_storeu_si256((__m256i *)(void *)(r->y + j),
                            pr256_sm_out32(r->e + (j - r->lo), Sv, mv, sh_even, sh_odd));
    }
}

enum { PR256_SM_GROUP = 4 };

/* The rows of a group, pass by pass. */
static PR_TARGET_AVX2 void pr256_sm_group(const pr256_sm *s, pr256_smr *rows, int32_t n)
{
    int32_t i;
    for (i = 0; i < n; ++i) {
        if (rows[i].mx != -129) {
            pr256_sm_exp(s, &rows[i]);
        }
    }
    for (i = 0; i < n; ++i) {
        pr256_sm_out(s, &rows[i]);
    }
}

/* Rows h, t of the call (row t of a batch is query position t), the keys lo .. hi - 1
 * that may be allowed; rows whose window misses the keys are all -128. */
#define PR256_SM_ROWS(ROW)                                                             \
    for (h = 0; h < p->batches; ++h) {                                                 \
        for (t = 0; t < p->rows; ++t) {                                                \
            const int64_t off = (h * p->rows + t) * p->cols;                           \
            int32_t lo, hi;                                                            \
            pr_softmax_window(p, t, &lo, &hi);                                         \
            if (lo >= hi) {                                                            \
                memset(y + off, 0x80, (size_t)p->cols);                                \
                continue;                                                              \
            }                                                                          \
            ROW(&s, x + off, y + off, lo, hi);                                         \
        }                                                                              \
    }

/* The allowed keys as bytes 0x00 / 0xFF, followed by 32 x 0x00. */
static void pr256_sm_allowed_keys(int32_t cols, const uint8_t *key_mask, uint8_t *allowed)
{
    int32_t j;
    for (j = 0; j < cols; ++j) {
        allowed[j] = key_mask == NULL || key_mask[j] != 0 ? 0xFF : 0x00;
    }
    memset(allowed + cols, 0, 32);
}

/* Rows shorter than 32 keys (a small frame: no buffers for long rows). */
static void pr256_softmax_short(const pr_softmax_params *p, const int8_t *x,
                                const int32_t *exp_table, const uint8_t *key_mask,
                                int8_t *y)
{
    uint8_t allowed[64];
    pr256_sm s;
    int64_t h, t;
    pr256_sm_allowed_keys(p->cols, key_mask, allowed);
    s.table = exp_table;
    s.allowed = allowed;
    s.cols = p->cols;
    s.e = NULL;
    PR256_SM_ROWS(pr256_sm_row_short)
}

static PR_TARGET_AVX2 void pr256_softmax(const pr_softmax_params *p, const int8_t *x,
                                         const int32_t *exp_table, const uint8_t *key_mask,
                                         int8_t *y)
{
    uint8_t allowed[PR256_SM_PAD];
    int32_t e[PR256_SM_PAD];
    pr256_smr rows[PR256_SM_GROUP];
    pr256_sm s;
    /* a row's e: at most cols + 31 words */
    const int32_t stride = p->cols + 32;
    const int32_t group = PR256_SM_PAD / stride < PR256_SM_GROUP ? PR256_SM_PAD / stride
                                                                 : PR256_SM_GROUP;
    int64_t h, t;
    int32_t n = 0;
    pr256_sm_allowed_keys(p->cols, key_mask, allowed);
    s.table = exp_table;
    s.allowed = allowed;
    s.cols = p->cols;
    s.e = NULL;
#define PR256_SM_ROW(s_, x_, y_, lo_, hi_)                                             \
    do {                                                                               \
        pr256_sm_max(s_, &rows[n], x_, y_, e + n * stride, lo_, hi_);                  \
        if (++n == group) {                                                            \
            pr256_sm_group(s_, rows, n);                                               \
            n = 0;                                                                     \
        }                                                                              \
    } while (0)
    PR256_SM_ROWS(PR256_SM_ROW)
#undef PR256_SM_ROW
    pr256_sm_group(&s, rows, n);
}

#undef PR256_SM_ROWS

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
    if (p->cols < 32) {
        pr256_softmax_short(p, x, exp_table, key_mask, y);
    } else {
        pr256_softmax(p, x, exp_table, key_mask, y);
    }
    return PR_OK;
}
