/*
 * pr_x86_avx2_mm: the AVX2 product behind the variants pr_<op>_avx2.c (internal,
 * declared in pr_x86_common.h).
 *
 * AVX2 has no exact int8 dot product (vpmaddubsw saturates its int16 pair sums), so
 * both operands are sign-extended to int16 with their zero points subtracted
 * (|a - za|, |b - zb| <= 255), and vpmaddwd adds pairs of int16 products into int32
 * lanes: |pair| <= 2 255^2 < 2^17, exact; the sums are the exact int32 dot products
 * (reference/int8.md section 3 bounds them).
 *
 * Layout: the output columns j are the 8 int32 lanes of a vector. B is packed per
 * call into a panel of 16 columns x PR256_KC depth on the stack: word (g, j) holds
 * the int16 pair (B[j, 2g] - zb, B[j, 2g + 1] - zb), so that
 *
 *   vpmaddwd(panel[g], broadcast(pair(A[i, 2g] - za, A[i, 2g + 1] - za)))
 *
 * adds two depth steps of row i to the 8 columns' lanes. The rows of A are converted
 * to such pairs once per tile of rows (once per panel and chunk when the depth needs
 * several chunks); B is packed once per tile, ~10 % of a 75 x 256 -> 1024 product,
 * so a tile holds as many rows as PR256_ABUF allows (all 75 at depth 256). The
 * product runs on blocks of 4 rows x 2 vectors (8 accumulators; 6 rows, 4 x 3, 2 x 4
 * and a depth loop unrolled by 2 were no faster or slower: 4 x 2 reaches ~85 % of the
 * multiply-add bound, 16 MACs per vpmaddwd and one vpaddd, and gcc spills 12
 * accumulators). Padded depth steps and columns hold 0 and add nothing.
 * B stored (j, k) (weights, keys) is packed by 8 x 8 transposes of 32-bit words, B
 * stored (k, j) (the values of A V) by interleaving two rows.
 * Then bias (saturating add), MBQM, zero point and clamp run on 8 lanes with the
 * reference's integer steps (pr256_mbqm), so the result is bit-identical to the
 * portable kernels; when no saturation can occur and every shift is <= 0 (the
 * models' layers), the bias is added plainly and the rounding right shift is done in
 * 32 bits (pr256_requant_fast, proved there).
 */
#include "pr_x86_q256.h"

enum {
    PR256_NC = 16,           /* columns per panel (2 vectors of 8 lanes) */
    PR256_KC = 256,          /* depth per chunk (even) */
    PR256_GC = PR256_KC / 2, /* pair words per chunk */
    PR256_ABUF = 16384,      /* pair words of A per tile of rows (64 KB on the stack:
                                the 75 rows of a depth-256 product, or 128 rows of one
                                chunk, are one tile, so B is packed once per call) */
    PR256_R = 4              /* rows per block */
};

/* Per-column requantization constants of one panel (2 vectors). */
typedef struct {
    pr256_mbqm_c q[2];
    __m256i bias[2];
    __m256i round[2];        /* fast: 2^(r-1), or 0 for r = 0 */
    __m256i sign[2];         /* fast: 1 for r >= 1, 0 for r = 0 */
    int32_t mode;            /* PR256_GENERIC, PR256_FAST, PR256_FAST_RIGHT */
    int32_t any_left;        /* some shift > 0 */
} pr256_cols;

/* How a panel is requantized (pr256_requant). */
enum {
    PR256_GENERIC,    /* the reference's steps */
    PR256_FAST,       /* no saturation, every shift <= 0: pr256_requant_fast */
    PR256_FAST_RIGHT  /* the same with every shift <= -1 and the whole output range */
};

/*
 * The constants of columns j0 .. j0 + nc - 1 (other lanes: multiplier 0, shift 0,
 * bias 0). Fast when every shift is <= 0 and
 *   max |bias| + max |dot| + 2^(r_max - 1) <= 2^31 - 1,
 * max |dot| = depth 2^14 for int8 x int8 (no zero points), depth 255^2 otherwise.
 */
static inline PR_TARGET_AVX2 void pr256_cols_init(const pr_mm *m, int32_t j0, int32_t nc,
                                                  pr256_cols *c)
{
    const int64_t dot = (int64_t)m->depth * (m->a_zero_point != 0 || m->b_zero_point != 0
                                                 ? 255 * 255 : 16384);
    int32_t mult[PR256_NC], shift[PR256_NC], bias[PR256_NC], round[PR256_NC],
        sign[PR256_NC];
    int64_t big = 0;
    int32_t l, v, r_max = 0, r_min = 31, any_left = 0;
    for (l = 0; l < PR256_NC; ++l) {
        const int32_t j = j0 + l;
        const int32_t jj = m->per_tensor ? 0 : j;
        const int32_t ok = l < nc;
        const int32_t e = ok ? m->shift[jj] : 0;
        const int64_t b = ok && m->bias != NULL ? m->bias[j] : 0;
        mult[l] = ok ? m->multiplier[jj] : 0;
        shift[l] = e;
        bias[l] = (int32_t)b;
        round[l] = e <= -1 ? (int32_t)1 << (-e - 1) : 0;
        sign[l] = e <= -1 ? 1 : 0;
        any_left |= e > 0;
        r_max = -e > r_max ? -e : r_max;
        r_min = ok && -e < r_min ? -e : r_min;
        big = (b < 0 ? -b : b) > big ? (b < 0 ? -b : b) : big;
    }
    for (v = 0; v < 2; ++v) {
        c->q[v] = pr256_mbqm_consts(_mm256_loadu_si256((const __m256i *)(void *)(mult + 8 * v)),
                                    _mm256_loadu_si256((const __m256i *)(void *)(shift + 8 * v)));
        c->bias[v] = _mm256_loadu_si256((const __m256i *)(void *)(bias + 8 * v));
        c->round[v] = _mm256_loadu_si256((const __m256i *)(void *)(round + 8 * v));
        c->sign[v] = _mm256_loadu_si256((const __m256i *)(void *)(sign + 8 * v));
    }
    c->any_left = any_left;
    c->mode = PR256_GENERIC;
    if (!any_left &&
        big + dot + (r_max > 0 ? (int64_t)1 << (r_max - 1) : 0) <= PR_Q_INT32_MAX) {
        const int full = m->y_bytes == 1 ? m->act_min == -128 && m->act_max == 127
                                         : m->act_min == -32768 && m->act_max == 32767;
        c->mode = r_min >= 1 && full ? PR256_FAST_RIGHT : PR256_FAST;
    }
}

/*
 * MBQM(x + bias, m, -r) for the fast panels: x + bias does not saturate (the bound in
 * pr256_cols_init), and with h = SRDHM(x + bias, m), |h| <= |x + bias| (m < 2^31), so
 *   RDBP(h, r) = (h + 2^(r-1) - [h < 0]) >> r       (r >= 1; h itself for r = 0)
 * (reference/int8.md's remainder form: h = a 2^r + b, both add 1 to a exactly when
 * b >= 2^(r-1) + [h < 0]) stays in int32: |h| + 2^(r-1) <= 2^31 - 1. RIGHT: every
 * lane that is stored has r >= 1 (the others' values are never used).
 */
PR256_INLINE __m256i pr256_requant_fast(const pr256_cols *c, int v, __m256i x, int right)
{
    const __m256i nudge = _mm256_set1_epi64x((int64_t)1 << 30);
    const __m256i s = _mm256_add_epi32(x, c->bias[v]);
    const __m256i even = _mm256_add_epi64(_mm256_mul_epi32(s, c->q[v].mult), nudge);
    const __m256i odd = _mm256_add_epi64(_mm256_mul_epi32(_mm256_srli_epi64(s, 32),
                                                          c->q[v].mult_odd), nudge);
    const __m256i h = _mm256_blend_epi32(_mm256_srli_epi64(even, 31),
                                         _mm256_slli_epi64(odd, 1), 0xAA);
    const __m256i neg = right ? _mm256_srli_epi32(h, 31)
                              : _mm256_and_si256(_mm256_srli_epi32(h, 31), c->sign[v]);
    return _mm256_srav_epi32(_mm256_sub_epi32(_mm256_add_epi32(h, c->round[v]), neg),
                             c->q[v].right);
}

/*
 * clamp(zp + MBQM(sat32(acc + bias)), act_min, act_max) of vector v (MODE: the panel's
 * c->mode, a constant). PR256_FAST_RIGHT leaves the clamp to the saturating narrowing
 * of pr256_store_row: |MBQM| <= 2^30 for r >= 1, so zp + MBQM fits int32, and the
 * output range is the output type's.
 */
PR256_INLINE __m256i pr256_requant(const pr_mm *m, const pr256_cols *c, int v, __m256i acc,
                                   int mode)
{
    __m256i y;
    if (mode == PR256_FAST_RIGHT) {
        return _mm256_add_epi32(pr256_requant_fast(c, v, acc, 1),
                                _mm256_set1_epi32(m->out_zero_point));
    }
    if (mode == PR256_FAST) {
        y = pr256_requant_fast(c, v, acc, 0);
    } else {
        y = pr256_mbqm(&c->q[v], pr256_add_sat(acc, c->bias[v]), c->any_left);
    }
    return pr256_clamp_zp(y, m->out_zero_point, m->act_min, m->act_max);
}

/* Store the nc <= 16 outputs of row i from columns j0 (lo: columns 0-7, hi: 8-15). */
PR256_INLINE void pr256_store_row(const pr_mm *m, int64_t i, int32_t j0, int32_t nc,
                                  __m256i lo, __m256i hi)
{
    if (m->y_bytes == 1) {
        int8_t *dst = (int8_t *)m->y + i * m->y_step + j0;
        const __m128i b = pr256_bytes16(lo, hi);
        if (nc == 16) {
            _mm_storeu_si128((__m128i *)(void *)dst, b);
        } else {
            int8_t t[16];
            _mm_storeu_si128((__m128i *)(void *)t, b);
            pr256_copy_lt32(dst, t, (size_t)nc);
        }
    } else {
        int16_t *dst = (int16_t *)m->y + i * m->y_step + j0;
        const __m256i w = pr256_words16(lo, hi);
        if (nc == 16) {
            _mm256_storeu_si256((__m256i *)(void *)dst, w);
        } else {
            int16_t t[16];
            _mm256_storeu_si256((__m256i *)(void *)t, w);
            pr256_copy_lt32(dst, t, (size_t)nc * sizeof *dst);
        }
    }
}

/* ---- packing ------------------------------------------------------------------ */

/*
 * 16 int8 at p (n < 16: the first n, then `fill`) sign-extended to int16, minus z.
 * back: bytes that may be read before p. With back + n >= 16 a short tail is the 16
 * bytes ending at p + n, moved down by 16 - n lanes (vpshufb; its index has bit 7 set
 * in the lanes past n, which get `fill`); else it goes through a padded copy.
 */
PR256_INLINE __m256i pr256_load16(const int8_t *p, int32_t n, int64_t back, int8_t fill,
                                  __m256i z)
{
    static const int8_t shift[32] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
                                     -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                     -1, -1};
    __m128i v;
    if (n >= 16) {
        v = _mm_loadu_si128((const __m128i *)(const void *)p);
    } else if (back + n >= 16) {
        /* lane i < n: byte 16 - n + i of the load, i.e. p[i]; lanes i >= n: fill */
        const __m128i idx = _mm_loadu_si128((const __m128i *)(const void *)(shift + 16 - n));
        const __m128i t = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
        v = _mm_blendv_epi8(_mm_shuffle_epi8(t, idx), _mm_set1_epi8(fill), idx);
    } else {
        int8_t buf[16];
        memset(buf, fill, sizeof buf);
        pr256_copy_lt32(buf, p, (size_t)n);
        v = _mm_loadu_si128((const __m128i *)(void *)buf);
    }
    return _mm256_sub_epi16(_mm256_cvtepi8_epi16(v), z);
}

/* out[g] lane l = 32-bit word g of r[l] (an 8 x 8 transpose). */
PR256_INLINE void pr256_transpose8(const __m256i r[8], __m256i out[8])
{
    __m256i t[8], u[8];
    int32_t i;
    for (i = 0; i < 4; ++i) { /* per 128-bit half: words 0,1 (4,5) / 2,3 (6,7) of 2i, 2i+1 */
        t[2 * i] = _mm256_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 2; ++i) { /* u[4i + q], half h: word 4h + q of rows 4i .. 4i + 3 */
        u[4 * i + 0] = _mm256_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm256_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm256_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm256_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (i = 0; i < 4; ++i) {
        out[i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x20);
        out[4 + i] = _mm256_permute2x128_si256(u[i], u[4 + i], 0x31);
    }
}

/*
 * Panel of columns j0 .. j0 + nc - 1 (nc <= 16), depth k0 .. k0 + nk - 1, B stored
 * (j, k): word g * 16 + l = pair (B[j0 + l, k0 + 2g] - zb, B[j0 + l, k0 + 2g + 1] - zb);
 * 8 columns x 16 depth steps are loaded and transposed at a time. Padded depth steps
 * are loaded as zb (0 after the subtraction), padded columns are 0.
 */
static inline PR_TARGET_AVX2 void pr256_pack_jk(const pr_mm *m, int32_t j0, int32_t nc,
                                                int32_t k0, int32_t nk, int32_t *panel)
{
    const __m256i zb = _mm256_set1_epi16((int16_t)m->b_zero_point);
    int32_t v, l, k, g;
    for (v = 0; v < 2; ++v) {
        for (k = 0; k < nk; k += 16) {
            __m256i r[8], out[8];
            for (l = 0; l < 8; ++l) {
                const int32_t j = 8 * v + l;
                r[l] = j < nc ? pr256_load16(m->b + (int64_t)(j0 + j) * m->b_step + k0 + k,
                                             nk - k, k0 + k, (int8_t)m->b_zero_point, zb)
                              : _mm256_setzero_si256();
            }
            pr256_transpose8(r, out);
            for (g = 0; g < 8 && 2 * g < nk - k; ++g) {
                _mm256_storeu_si256((__m256i *)(void *)(panel + (k / 2 + g) * 16 + 8 * v),
                                    out[g]);
            }
        }
    }
}

/* The same panel when B is stored (k, j): rows k0 + 2g and k0 + 2g + 1 interleaved. */
static inline PR_TARGET_AVX2 void pr256_pack_kj(const pr_mm *m, int32_t j0, int32_t nc,
                                                int32_t k0, int32_t nk, int32_t *panel)
{
    const __m256i zb = _mm256_set1_epi16((int16_t)m->b_zero_point);
    const int8_t fill = (int8_t)m->b_zero_point;
    int32_t g;
    for (g = 0; 2 * g < nk; ++g) {
        const int8_t *b0 = m->b + (int64_t)(k0 + 2 * g) * m->b_step + j0;
        /* columns past nc and a missing second row: zb, 0 after the subtraction */
        const __m256i r0 = pr256_load16(b0, nc, j0, fill, zb);
        const __m256i r1 = 2 * g + 1 < nk ? pr256_load16(b0 + m->b_step, nc, j0, fill, zb)
                                          : _mm256_setzero_si256();
        const __m256i lo = _mm256_unpacklo_epi16(r0, r1); /* columns 0-3 | 8-11 */
        const __m256i hi = _mm256_unpackhi_epi16(r0, r1); /* columns 4-7 | 12-15 */
        _mm256_storeu_si256((__m256i *)(void *)(panel + g * 16),
                            _mm256_permute2x128_si256(lo, hi, 0x20));
        _mm256_storeu_si256((__m256i *)(void *)(panel + g * 16 + 8),
                            _mm256_permute2x128_si256(lo, hi, 0x31));
    }
}

/* Rows i0 .. i0 + ni - 1 of A, depth k0 .. k0 + nk - 1, as pairs (A[i, k0 + 2g] - za,
 * A[i, k0 + 2g + 1] - za): row r at abuf + r * G, G = ceil(nk / 2) words. */
static inline PR_TARGET_AVX2 void pr256_pack_a(const pr_mm *m, int32_t i0, int32_t ni,
                                               int32_t k0, int32_t nk, int32_t *abuf)
{
    const __m256i za = _mm256_set1_epi16((int16_t)m->a_zero_point);
    const int32_t G = (nk + 1) / 2;
    int32_t r, k;
    for (r = 0; r < ni; ++r) {
        const int8_t *row = m->a + (int64_t)(i0 + r) * m->a_step + k0;
        int32_t *dst = abuf + (int64_t)r * G;
        for (k = 0; k + 16 <= nk; k += 16) {
            _mm256_storeu_si256((__m256i *)(void *)(dst + k / 2),
                                pr256_load16(row + k, 16, 0, 0, za));
        }
        if (k < nk) { /* the last words, padded with za (0 after the subtraction) */
            int32_t t[8];
            _mm256_storeu_si256((__m256i *)(void *)t,
                                pr256_load16(row + k, nk - k, k0 + k,
                                             (int8_t)m->a_zero_point, za));
            memcpy(dst + k / 2, t, (size_t)(G - k / 2) * sizeof *t);
        }
    }
}

/* ---- the block of R rows x V vectors ------------------------------------------- */

typedef struct {
    const pr_mm *m;
    const int32_t *panel;
    const pr256_cols *cols;
    const int32_t *abuf;     /* the tile's rows as pairs, G words each */
    int32_t G;               /* pair words of the chunk */
    int32_t j0, nc;          /* the panel's columns */
    int32_t first, last;     /* first / last chunk of the depth */
    int32_t i0;              /* the tile's first row */
    int32_t *tile;           /* accumulators between chunks, 16 per row of the tile */
} pr256_step;

/* Rows ib .. ib + nr - 1 of the tile (nr <= R; missing rows repeat the last one,
 * never stored), the panel's V vectors, one chunk; MODE: the panel's c->mode. */
PR256_INLINE void pr256_block(const pr256_step *s, int32_t ib, int32_t nr, int R, int V,
                              int mode)
{
    const int32_t G = s->G;
    const int32_t *a[PR256_R];
    __m256i acc[PR256_R][2];
    int32_t r, v, g;
    for (r = 0; r < R; ++r) {
        const int32_t rr = ib + (r < nr ? r : nr - 1);
        a[r] = s->abuf + (int64_t)rr * G;
        for (v = 0; v < V; ++v) {
            acc[r][v] = s->first ? _mm256_setzero_si256()
                                 : _mm256_loadu_si256((const __m256i *)(const void *)(s->tile + rr * 16 + 8 * v));
        }
    }
    if (R == 4 && V == 2) { /* named accumulators: gcc copied the array's in the loop */
        __m256i c00 = acc[0][0], c01 = acc[0][1], c10 = acc[1][0], c11 = acc[1][1];
        __m256i c20 = acc[2][0], c21 = acc[2][1], c30 = acc[3][0], c31 = acc[3][1];
        const int32_t *pp = s->panel;
        for (g = 0; g < G; ++g, pp += 16) {
            const __m256i p0 = _mm256_loadu_si256((const __m256i *)(const void *)pp);
            const __m256i p1 = _mm256_loadu_si256((const __m256i *)(const void *)(pp + 8));
            __m256i av = _mm256_set1_epi32(a[0][g]);
            c00 = _mm256_add_epi32(c00, _mm256_madd_epi16(p0, av));
            c01 = _mm256_add_epi32(c01, _mm256_madd_epi16(p1, av));
            av = _mm256_set1_epi32(a[1][g]);
            c10 = _mm256_add_epi32(c10, _mm256_madd_epi16(p0, av));
            c11 = _mm256_add_epi32(c11, _mm256_madd_epi16(p1, av));
            av = _mm256_set1_epi32(a[2][g]);
            c20 = _mm256_add_epi32(c20, _mm256_madd_epi16(p0, av));
            c21 = _mm256_add_epi32(c21, _mm256_madd_epi16(p1, av));
            av = _mm256_set1_epi32(a[3][g]);
            c30 = _mm256_add_epi32(c30, _mm256_madd_epi16(p0, av));
            c31 = _mm256_add_epi32(c31, _mm256_madd_epi16(p1, av));
        }
        acc[0][0] = c00;
        acc[0][1] = c01;
        acc[1][0] = c10;
        acc[1][1] = c11;
        acc[2][0] = c20;
        acc[2][1] = c21;
        acc[3][0] = c30;
        acc[3][1] = c31;
    } else {
        for (g = 0; g < G; ++g) {
            __m256i pv[2];
            for (v = 0; v < V; ++v) {
                pv[v] = _mm256_loadu_si256((const __m256i *)(const void *)(s->panel + g * 16 + 8 * v));
            }
            for (r = 0; r < R; ++r) {
                const __m256i av = _mm256_set1_epi32(a[r][g]);
                for (v = 0; v < V; ++v) {
                    acc[r][v] = _mm256_add_epi32(acc[r][v], _mm256_madd_epi16(pv[v], av));
                }
            }
        }
    }
    if (!s->last) {
        for (r = 0; r < nr; ++r) {
            for (v = 0; v < V; ++v) {
                _mm256_storeu_si256((__m256i *)(void *)(s->tile + (ib + r) * 16 + 8 * v),
                                    acc[r][v]);
            }
        }
        return;
    }
    for (r = 0; r < nr; ++r) {
        const __m256i lo = pr256_requant(s->m, s->cols, 0, acc[r][0], mode);
        const __m256i hi = V == 2 ? pr256_requant(s->m, s->cols, 1, acc[r][1], mode)
                                  : _mm256_setzero_si256();
        pr256_store_row(s->m, (int64_t)s->i0 + ib + r, s->j0, s->nc, lo, hi);
    }
}

/* The rows 0 .. ni - 1 of the tile: blocks of 4, then of 3 and 1. */
PR256_INLINE void pr256_rows(const pr256_step *s, int32_t ni, int V, int mode)
{
    int32_t ib = 0;
    for (; ib + PR256_R <= ni; ib += PR256_R) {
        pr256_block(s, ib, PR256_R, PR256_R, V, mode);
    }
    if (ni - ib >= 3) {
        pr256_block(s, ib, 3, 3, V, mode);
        ib += 3;
    }
    for (; ib < ni; ++ib) {
        pr256_block(s, ib, 1, 1, V, mode);
    }
}

#define PR256_ROWS(V, MODE)                                                            \
    static PR_TARGET_AVX2 void pr256_rows_##V##_##MODE(const pr256_step *s, int32_t ni)  \
    {                                                                                  \
        pr256_rows(s, ni, V, MODE);                                                    \
    }
PR256_ROWS(1, PR256_GENERIC)
PR256_ROWS(1, PR256_FAST)
PR256_ROWS(1, PR256_FAST_RIGHT)
PR256_ROWS(2, PR256_GENERIC)
PR256_ROWS(2, PR256_FAST)
PR256_ROWS(2, PR256_FAST_RIGHT)
#undef PR256_ROWS

/* The whole product described by m (checked by the caller): tiles of rows, in each
 * the panels of columns, in each the chunks of the depth. */
PR_TARGET_AVX2 void pr_x86_avx2_mm(const pr_mm *m)
{
    int32_t abuf[PR256_ABUF];
    int32_t panel[PR256_GC * PR256_NC];
    int32_t tile[(PR256_ABUF / PR256_GC) * PR256_NC];
    static void (*const rows[2][3])(const pr256_step *, int32_t) = {
        {pr256_rows_1_PR256_GENERIC, pr256_rows_1_PR256_FAST, pr256_rows_1_PR256_FAST_RIGHT},
        {pr256_rows_2_PR256_GENERIC, pr256_rows_2_PR256_FAST, pr256_rows_2_PR256_FAST_RIGHT}};
    pr256_cols cols;
    pr256_step s;
    const int32_t chunks = (m->depth + PR256_KC - 1) / PR256_KC;
    /* one chunk: the tile's rows converted once (G <= PR256_GC words each) */
    const int32_t G1 = (m->depth + 1) / 2;
    const int32_t tile_rows = chunks == 1 ? PR256_ABUF / G1 : PR256_ABUF / PR256_GC;
    int32_t i0, j0, c;
    s.m = m;
    s.panel = panel;
    s.cols = &cols;
    s.abuf = abuf;
    s.tile = tile;
    for (i0 = 0; i0 < m->rows; i0 += tile_rows) {
        const int32_t ni = m->rows - i0 < tile_rows ? m->rows - i0 : tile_rows;
        s.i0 = i0;
        if (chunks == 1) {
            pr256_pack_a(m, i0, ni, 0, m->depth, abuf);
        }
        for (j0 = 0; j0 < m->cols; j0 += PR256_NC) {
            const int32_t nc = m->cols - j0 < PR256_NC ? m->cols - j0 : PR256_NC;
            pr256_cols_init(m, j0, nc, &cols);
            s.j0 = j0;
            s.nc = nc;
            for (c = 0; c < chunks; ++c) {
                const int32_t k0 = c * PR256_KC;
                const int32_t nk = m->depth - k0 < PR256_KC ? m->depth - k0 : PR256_KC;
                s.G = (nk + 1) / 2;
                s.first = c == 0;
                s.last = c == chunks - 1;
                if (m->b_kn) {
                    pr256_pack_kj(m, j0, nc, k0, nk, panel);
                } else {
                    pr256_pack_jk(m, j0, nc, k0, nk, panel);
                }
                if (chunks > 1) {
                    pr256_pack_a(m, i0, ni, k0, nk, abuf);
                }
                rows[nc > 8][cols.mode](&s, ni);
            }
        }
    }
}
