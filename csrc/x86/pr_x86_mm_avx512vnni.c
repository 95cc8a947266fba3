/*
 * pr_x86_avx512_mm: the AVX-512 VNNI product behind the variants
 * pr_<op>_avx512vnni.c (internal, declared in pr_x86_common.h).
 *
 * Product (pr512_mm): the output columns j are the 16 int32 lanes of a vector. B is
 * packed per call into a panel of up to 64 columns x 256 depth on the stack: word
 * (g, j) holds the 4 bytes B[j, 4g .. 4g+3] + 128 as unsigned, so that
 *
 *   vpdpbusd(acc, panel[g], broadcast(A[i, 4g .. 4g+3]))
 *
 * adds sum_k (B[j,k] + 128) A[i,k] to lane j (u8 x s8 products, exact in int32). A is
 * used in place (one 32-bit broadcast per 4 depth steps), 4 rows x up to 4 vectors of
 * columns at a time. With Sa_i = sum_k A[i,k] and Sb'_j = sum_k (B[j,k] + 128):
 *
 *   sum_k (A - za)(B - zb) = acc - (128 + zb) Sa_i - za Sb'_j + depth za (128 + zb)
 *
 * (int32 lane arithmetic wraps, the left side fits: the sum is exact.) Padded depth
 * steps hold 0 in the panel and add nothing. A depth longer than 256 is done in
 * chunks, the accumulators of up to 64 rows kept in a stack tile between chunks.
 * Then bias (saturating add), MBQM, zero point and clamp run on 16 lanes at once
 * with the reference's integer steps (pr512_requantize), so the result is
 * bit-identical to the portable kernels. When every column of a panel has the same
 * right shift r >= 1 (the attention products' one multiplier; the model's linear
 * layers share one shift per layer), MBQM's two roundings are done as one, from the
 * 64-bit product (pr512_mbqm_right in pr_x86_q512.h).
 * The sums Sa_i of A's rows are computed once per call (per tile of rows), not per
 * panel.
 */
#include "pr_x86_q512.h"

enum {
    PR512_NC = 64,            /* columns per panel (4 vectors of 16 lanes) */
    PR512_KC = 256,           /* depth per panel chunk */
    PR512_GC = PR512_KC / 4,  /* 4-byte groups per chunk */
    PR512_TILE_ROWS = 64      /* rows per tile when the depth needs several chunks */
};

/* Per-column requantization constants of one panel (64 lanes), precomputed once per
 * panel (pr512_mbqm_c's fields, in memory). */
typedef struct {
    int32_t bias[PR512_NC];
    int32_t mult[PR512_NC + 16]; /* one element past the panel is read (odd lanes) */
    int32_t left[PR512_NC];      /* max(shift, 0) */
    int32_t big[PR512_NC];       /* INT32_MAX >> left: larger values saturate */
    int32_t small[PR512_NC];     /* INT32_MIN >> left: smaller values saturate */
    int32_t right[PR512_NC];     /* max(-shift, 0) */
    int32_t mask[PR512_NC];      /* 2^right - 1 */
    int32_t half[PR512_NC];      /* mask >> 1 */
    int32_t colcorr[PR512_NC];   /* depth za (128 + zb) - za Sb'_j (wrapped), or 0 */
    int32_t any_left;            /* some shift > 0 */
    int32_t any_colcorr;         /* za != 0 */
    int32_t sat_free;            /* |bias| + |dot| < 2^31 for every column: no saturation */
    int32_t common_right;        /* 1 .. 31: every column's shift is -common_right; or 0 */
} pr512_cols;

/* clamp(zp + MBQM(sat32(acc + bias)), act_min, act_max) on the 16 lanes of vector v */
PR512_INLINE __m512i pr512_requantize(const pr_mm *m, const pr512_cols *c, int32_t v,
                                      __m512i acc)
{
    const int32_t o = 16 * v;
    const __m512i bias = _mm512_loadu_si512(c->bias + o);
    pr512_mbqm_c q;
    __m512i y = c->sat_free ? _mm512_add_epi32(acc, bias) : pr512_add_sat(acc, bias);
    q.mult = _mm512_loadu_si512(c->mult + o);
    q.mult_odd = _mm512_loadu_si512(c->mult + o + 1); /* odd lanes' m in even dwords */
    q.left = _mm512_loadu_si512(c->left + o);
    q.big = _mm512_loadu_si512(c->big + o);
    q.small = _mm512_loadu_si512(c->small + o);
    q.right = _mm512_loadu_si512(c->right + o);
    q.mask = _mm512_loadu_si512(c->mask + o);
    q.half = _mm512_loadu_si512(c->half + o);
    q.any_left = c->any_left;
    y = pr512_mbqm(&q, y);
    return pr512_clamp_zp(y, m->out_zero_point, m->act_min, m->act_max);
}

/* ---- packing ------------------------------------------------------------------ */

/* Fill the per-column constants of the V vectors of columns j0 .. j0 + nc - 1 (other
 * lanes: 0); colcorr is filled later (pr512_colcorr) when any_colcorr. */
static inline PR_TARGET_AVX512 void pr512_cols_init(const pr_mm *m, int32_t j0,
                                                    int32_t nc, pr512_cols *c)
{
    /* |dot| <= depth 2^14 (|int8 x int8| <= 2^14): a bias within 2^31 - 1 - depth 2^14
     * of zero cannot saturate (the products with zero points have no bias) */
    const int32_t room = PR_Q_INT32_MAX - m->depth * 16384;
    int32_t v;
    const int32_t shift0 = m->shift[m->per_tensor ? 0 : j0];
    c->sat_free = 1;
    c->any_left = 0;
    c->any_colcorr = m->a_zero_point != 0;
    c->common_right = shift0 <= -1 ? -shift0 : 0;
    /* the odd-lane multiplier load of the last vector reads one word past it */
    _mm512_storeu_si512(c->mult + 16 * ((nc + 15) / 16), _mm512_setzero_si512());
    for (v = 0; v < PR512_NC / 16 && 16 * v < nc; ++v) {
        const int32_t o = 16 * v;
        const __mmask16 lanes = pr512_first(nc - o);
        const __m512i mult = m->per_tensor
                                 ? _mm512_maskz_set1_epi32(lanes, m->multiplier[0])
                                 : _mm512_maskz_loadu_epi32(lanes, m->multiplier + j0 + o);
        const __m512i shift = m->per_tensor
                                  ? _mm512_maskz_set1_epi32(lanes, m->shift[0])
                                  : _mm512_maskz_loadu_epi32(lanes, m->shift + j0 + o);
        const __m512i bias = m->bias != NULL
                                 ? _mm512_maskz_loadu_epi32(lanes, m->bias + j0 + o)
                                 : _mm512_setzero_si512();
        const pr512_mbqm_c q = pr512_mbqm_consts(mult, shift);
        _mm512_storeu_si512(c->bias + o, bias);
        _mm512_storeu_si512(c->mult + o, q.mult);
        _mm512_storeu_si512(c->left + o, q.left);
        _mm512_storeu_si512(c->big + o, q.big);
        _mm512_storeu_si512(c->small + o, q.small);
        _mm512_storeu_si512(c->right + o, q.right);
        _mm512_storeu_si512(c->mask + o, q.mask);
        _mm512_storeu_si512(c->half + o, q.half);
        c->any_left |= q.any_left;
        if (_mm512_mask_cmpneq_epi32_mask(lanes, shift, _mm512_set1_epi32(shift0)) != 0) {
            c->common_right = 0;                /* the shifts differ */
        }
        c->sat_free &= _mm512_cmpgt_epi32_mask(bias, _mm512_set1_epi32(room)) == 0 &&
                       _mm512_cmplt_epi32_mask(bias, _mm512_set1_epi32(-room)) == 0;
    }
}

/* out[g] = dword g of r[0..15] in lane j (a 16 x 16 transpose of 32-bit words). */
PR512_INLINE void pr512_transpose16(const __m512i r[16], __m512i out[16])
{
    __m512i t[16], u[16];
    int32_t i, q;
    for (i = 0; i < 8; ++i) { /* per 128-bit block L: words 4L.. of columns 2i, 2i+1 */
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (i = 0; i < 4; ++i) { /* u[4i + q], block L: word 4L + q of columns 4i .. 4i+3 */
        u[4 * i + 0] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (q = 0; q < 4; ++q) { /* 4 x 4 transpose of the 128-bit blocks */
        const __m512i x0 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0x44);
        const __m512i x1 = _mm512_shuffle_i32x4(u[q], u[4 + q], 0xEE);
        const __m512i y0 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0x44);
        const __m512i y1 = _mm512_shuffle_i32x4(u[8 + q], u[12 + q], 0xEE);
        out[q] = _mm512_shuffle_i32x4(x0, y0, 0x88);
        out[4 + q] = _mm512_shuffle_i32x4(x0, y0, 0xDD);
        out[8 + q] = _mm512_shuffle_i32x4(x1, y1, 0x88);
        out[12 + q] = _mm512_shuffle_i32x4(x1, y1, 0xDD);
    }
}

/* 16 bytes of column l (B + 128 as u8; past n bytes or lanes columns: 0) */
PR512_INLINE __m128i pr512_col16(const pr_mm *m, int32_t j, int32_t l, int32_t lanes,
                                 int32_t k, __mmask16 bytes)
{
    const __m128i flip = _mm_set1_epi8((char)0x80);
    if (l >= lanes) {
        return _mm_setzero_si128();
    }
    /* bytes past the chunk are loaded as 0x80 and flipped to 0 */
    return _mm_xor_si128(
        _mm_mask_loadu_epi8(flip, bytes, m->b + (int64_t)(j + l) * m->b_step + k), flip);
}

/*
 * Panel words of 16 columns (from column j), 4 groups from depth k (16 bytes, n <= 16
 * of them valid): out[g] lane l = column j + l's word g. Z_i holds columns i, 4 + i,
 * 8 + i, 12 + i in its 128-bit blocks, so that the 4 x 4 word transposes inside the
 * blocks put column 4 L + i in lane 4 L + i.
 */
PR512_INLINE void pr512_pack_jk16(const pr_mm *m, int32_t j, int32_t lanes, int32_t k,
                                  int32_t n, __m512i out[4])
{
    const __mmask16 bytes = pr512_first(n);
    __m512i z[4], t0, t1, t2, t3;
    int32_t i;
    for (i = 0; i < 4; ++i) { /* the block index of inserti32x4 must be a constant */
        z[i] = _mm512_castsi128_si512(pr512_col16(m, j, i, lanes, k, bytes));
        z[i] = _mm512_inserti32x4(z[i], pr512_col16(m, j, 4 + i, lanes, k, bytes), 1);
        z[i] = _mm512_inserti32x4(z[i], pr512_col16(m, j, 8 + i, lanes, k, bytes), 2);
        z[i] = _mm512_inserti32x4(z[i], pr512_col16(m, j, 12 + i, lanes, k, bytes), 3);
    }
    t0 = _mm512_unpacklo_epi32(z[0], z[1]);
    t1 = _mm512_unpackhi_epi32(z[0], z[1]);
    t2 = _mm512_unpacklo_epi32(z[2], z[3]);
    t3 = _mm512_unpackhi_epi32(z[2], z[3]);
    out[0] = _mm512_unpacklo_epi64(t0, t2);
    out[1] = _mm512_unpackhi_epi64(t0, t2);
    out[2] = _mm512_unpacklo_epi64(t1, t3);
    out[3] = _mm512_unpackhi_epi64(t1, t3);
}

/*
 * Panel of columns j0 .. j0 + nc - 1, depth k0 .. k0 + nk - 1, as V vectors per
 * 4-byte group g: word g * 16 V + l = B[j0 + l, k0 + 4g .. + 3] + 128 (u8), padded
 * depth steps and columns 0. B stored (j, k): 16 columns x 64 bytes are loaded and
 * transposed at a time, the rest of the depth 16 bytes at a time; masked loads read
 * nothing past a column or the chunk.
 */
static inline PR_TARGET_AVX512 void pr512_pack_jk(const pr_mm *m, int32_t j0,
                                                  int32_t nc, int32_t V, int32_t k0,
                                                  int32_t nk, int32_t *panel)
{
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    int32_t v, l, kb, g;
    for (v = 0; v < V; ++v) {
        const int32_t lanes = nc - 16 * v < 16 ? nc - 16 * v : 16;
        for (kb = 0; kb + 64 <= nk; kb += 64) {
            __m512i r[16], out[16];
            for (l = 0; l < 16; ++l) {
                r[l] = _mm512_setzero_si512();
                if (l < lanes) {
                    const int8_t *src = m->b + (int64_t)(j0 + 16 * v + l) * m->b_step;
                    r[l] = _mm512_xor_si512(_mm512_loadu_si512(src + k0 + kb), flip);
                }
            }
            pr512_transpose16(r, out);
            for (g = 0; g < 16; ++g) {
                _mm512_storeu_si512(panel + ((kb / 4 + g) * V + v) * 16, out[g]);
            }
        }
        for (; kb < nk; kb += 16) {
            const int32_t n = nk - kb < 16 ? nk - kb : 16;
            __m512i out[4];
            pr512_pack_jk16(m, j0 + 16 * v, lanes, k0 + kb, n, out);
            for (g = 0; g < (n + 3) / 4; ++g) {
                _mm512_storeu_si512(panel + ((kb / 4 + g) * V + v) * 16, out[g]);
            }
        }
    }
}

/* The same panel when B is stored (k, j): interleave 4 rows of 16 columns. */
static inline PR_TARGET_AVX512 void pr512_pack_kj(const pr_mm *m, int32_t j0,
                                                  int32_t nc, int32_t V, int32_t k0,
                                                  int32_t nk, int32_t *panel)
{
    const int32_t G = (nk + 3) / 4;
    const __m128i flip = _mm_set1_epi8((char)0x80);
    int32_t g, v, q;
    for (g = 0; g < G; ++g) {
        for (v = 0; v < V; ++v) {
            const int32_t lanes = nc - 16 * v < 16 ? nc - 16 * v : 16;
            const __mmask16 lane_mask = (__mmask16)((1u << lanes) - 1u);
            __m128i r[4], t0, t1, t2, t3;
            int32_t *dst = panel + (g * V + v) * 16;
            for (q = 0; q < 4; ++q) {
                const int32_t k = 4 * g + q;
                r[q] = _mm_setzero_si128();
                if (k < nk) {
                    const int8_t *src = m->b + (int64_t)(k0 + k) * m->b_step + j0 + 16 * v;
                    /* missing columns: loaded as 0x80, flipped to u8 0 */
                    r[q] = _mm_xor_si128(_mm_mask_loadu_epi8(flip, lane_mask, src), flip);
                }
            }
            t0 = _mm_unpacklo_epi8(r[0], r[1]); /* columns 0..7: rows 0, 1 */
            t1 = _mm_unpackhi_epi8(r[0], r[1]); /* columns 8..15 */
            t2 = _mm_unpacklo_epi8(r[2], r[3]);
            t3 = _mm_unpackhi_epi8(r[2], r[3]);
            _mm_storeu_si128((__m128i *)(dst + 0), _mm_unpacklo_epi16(t0, t2));
            _mm_storeu_si128((__m128i *)(dst + 4), _mm_unpackhi_epi16(t0, t2));
            _mm_storeu_si128((__m128i *)(dst + 8), _mm_unpacklo_epi16(t1, t3));
            _mm_storeu_si128((__m128i *)(dst + 12), _mm_unpackhi_epi16(t1, t3));
        }
    }
}

/* Add the chunk's column sums Sb'_j (sum of the panel's u8 bytes) to colsum. */
static inline PR_TARGET_AVX512 void pr512_panel_colsum(const int32_t *panel, int32_t V,
                                                       int32_t G, int32_t *colsum)
{
    const __m512i ones = _mm512_set1_epi8(1);
    int32_t v, g;
    for (v = 0; v < V; ++v) {
        __m512i s = _mm512_loadu_si512(colsum + 16 * v);
        for (g = 0; g < G; ++g) {
            s = _mm512_dpbusd_epi32(s, _mm512_loadu_si512(panel + (g * V + v) * 16), ones);
        }
        _mm512_storeu_si512(colsum + 16 * v, s);
    }
}

/* sum of n >= 1 int8 values */
static inline PR_TARGET_AVX512 int32_t pr512_sum_s8(const int8_t *p, int32_t n)
{
    const __m512i ones = _mm512_set1_epi8(1);
    __m512i acc = _mm512_setzero_si512();
    int32_t k;
    for (k = 0; k + 64 <= n; k += 64) {
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_loadu_si512(p + k));
    }
    if (k < n) {
        const __mmask64 tail = (~(__mmask64)0) >> (64 - (n - k));
        acc = _mm512_dpbusd_epi32(acc, ones, _mm512_maskz_loadu_epi8(tail, p + k));
    }
    return _mm512_reduce_add_epi32(acc);
}

/* ---- the 4-row x V-vector block ----------------------------------------------- */

typedef struct {
    const pr_mm *m;
    const int32_t *panel;
    const pr512_cols *cols;
    const int32_t *rowcorr; /* -(128 + zb) Sa_i of the tile's rows */
    int32_t j0, nc;        /* the panel's columns */
    int32_t k0, nk;        /* the chunk */
    int32_t first, last;   /* first / last chunk of the depth */
    int32_t i0, ni;        /* the tile's rows */
    int32_t *tile;         /* accumulators between chunks, PR512_TILE_ROWS x 64 */
} pr512_step;

/* Requantize and store the valid rows (nr) of a finished block starting at row i. */
PR512_INLINE void pr512_finish(const pr512_step *s, int64_t i, int32_t nr, __m512i acc[4][4],
                               int V)
{
    const pr_mm *m = s->m;
    const pr512_cols *c = s->cols;
    const pr512_right_c rc = pr512_right_consts(c->common_right > 0 ? c->common_right : 1);
    const __m512i lo = _mm512_set1_epi32(m->act_min);
    const __m512i hi = _mm512_set1_epi32(m->act_max);
    const __m512i zp = _mm512_set1_epi32(m->out_zero_point);
    const int full_range = m->y_bytes == 1 ? m->act_min == -128 && m->act_max == 127
                                           : m->act_min == -32768 && m->act_max == 32767;
    int32_t r, v;
    for (r = 0; r < nr; ++r) {
        const __m512i rowcorr = _mm512_set1_epi32(s->rowcorr[i - s->i0 + r]);
        for (v = 0; v < V; ++v) {
            const int32_t lanes = s->nc - 16 * v < 16 ? s->nc - 16 * v : 16;
            const __mmask16 keep = (__mmask16)((1u << lanes) - 1u);
            __m512i y = _mm512_add_epi32(acc[r][v], rowcorr);
            if (c->any_colcorr) {
                y = _mm512_add_epi32(y, _mm512_loadu_si512(c->colcorr + 16 * v));
            }
            if (c->common_right > 0) { /* one right shift for every column */
                const __m512i bias = _mm512_loadu_si512(c->bias + 16 * v);
                y = c->sat_free ? _mm512_add_epi32(y, bias) : pr512_add_sat(y, bias);
                y = pr512_mbqm_right(&rc, y, _mm512_loadu_si512(c->mult + 16 * v),
                                     _mm512_loadu_si512(c->mult + 16 * v + 1));
                y = _mm512_add_epi32(y, zp);      /* |MBQM| <= 2^30 here: no overflow */
                if (!full_range) {
                    y = _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
                }
            } else {
                y = pr512_requantize(m, c, v, y);
            }
            /* the narrowing saturates: with the whole output range it is the clamp */
            if (m->y_bytes == 1) {
                int8_t *dst = (int8_t *)m->y + i * m->y_step + s->j0 + 16 * v;
                _mm_mask_storeu_epi8(dst + r * m->y_step, keep, _mm512_cvtsepi32_epi8(y));
            } else {
                int16_t *dst = (int16_t *)m->y + i * m->y_step + s->j0 + 16 * v;
                _mm256_mask_storeu_epi16(dst + r * m->y_step, keep,
                                         _mm512_cvtsepi32_epi16(y));
            }
        }
    }
}

/*
 * One chunk for every R-row block of the tile (R = 4, or 1 for a tile of one row),
 * V (1..4) vectors of columns; R and V are compile-time constants in each caller so
 * that the accumulators live in registers.
 */
PR512_INLINE void pr512_chunk(const pr512_step *s, int V, int R)
{
    const pr_mm *m = s->m;
    const int32_t full = s->nk / 4;
    const int32_t rest = s->nk - 4 * full;
    int32_t ib, r, v, g;
    for (ib = 0; ib < s->ni; ib += R) {
        const int32_t nr = s->ni - ib < R ? s->ni - ib : R;
        const int8_t *row[4];
        __m512i acc[4][4];
        for (r = 0; r < R; ++r) { /* missing rows repeat the last one, never stored */
            row[r] = m->a + (int64_t)(s->i0 + ib + (r < nr ? r : nr - 1)) * m->a_step;
            for (v = 0; v < V; ++v) {
                acc[r][v] = s->first ? _mm512_setzero_si512()
                                     : _mm512_loadu_si512(s->tile + (ib + r) * 64 + 16 * v);
            }
        }
        for (g = 0; g < full; ++g) {
            __m512i pv[4];
            for (v = 0; v < V; ++v) {
                pv[v] = _mm512_loadu_si512(s->panel + (g * V + v) * 16);
            }
            for (r = 0; r < R; ++r) {
                const __m512i av = _mm512_set1_epi32(pr_x86_load32(row[r] + s->k0 + 4 * g));
                for (v = 0; v < V; ++v) {
                    acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], pv[v], av);
                }
            }
        }
        if (rest > 0) { /* never read past a row: the last group is loaded bytewise */
            for (r = 0; r < R; ++r) {
                const __m512i av = _mm512_set1_epi32(
                    pr_x86_load32_tail(row[r] + s->k0 + 4 * full, rest, 0));
                for (v = 0; v < V; ++v) {
                    acc[r][v] = _mm512_dpbusd_epi32(
                        acc[r][v], _mm512_loadu_si512(s->panel + (full * V + v) * 16), av);
                }
            }
        }
        if (s->last) {
            pr512_finish(s, s->i0 + ib, nr, acc, V);
        } else {
            for (r = 0; r < R; ++r) {
                for (v = 0; v < V; ++v) {
                    _mm512_storeu_si512(s->tile + (ib + r) * 64 + 16 * v, acc[r][v]);
                }
            }
        }
    }
}

static PR_TARGET_AVX512 void pr512_chunk_v1(const pr512_step *s) { pr512_chunk(s, 1, 4); }
static PR_TARGET_AVX512 void pr512_chunk_v2(const pr512_step *s) { pr512_chunk(s, 2, 4); }
static PR_TARGET_AVX512 void pr512_chunk_v3(const pr512_step *s) { pr512_chunk(s, 3, 4); }
static PR_TARGET_AVX512 void pr512_chunk_v4(const pr512_step *s) { pr512_chunk(s, 4, 4); }
static PR_TARGET_AVX512 void pr512_chunk_1row(const pr512_step *s, int32_t V)
{
    switch (V) { /* one query row of attention: no duplicated rows */
    case 1: pr512_chunk(s, 1, 1); break;
    case 2: pr512_chunk(s, 2, 1); break;
    case 3: pr512_chunk(s, 3, 1); break;
    default: pr512_chunk(s, 4, 1); break;
    }
}

/* colcorr = depth za (128 + zb) - za Sb'_j, in wrapping lane arithmetic */
static inline PR_TARGET_AVX512 void pr512_colcorr(const pr_mm *m, const int32_t *colsum,
                                                  pr512_cols *c)
{
    const int32_t za = m->a_zero_point;
    const __m512i base = _mm512_set1_epi32(m->depth * za * (128 + m->b_zero_point));
    int32_t v;
    for (v = 0; v < PR512_NC / 16; ++v) {
        const __m512i t = _mm512_mullo_epi32(_mm512_set1_epi32(-za),
                                             _mm512_loadu_si512(colsum + 16 * v));
        _mm512_storeu_si512(c->colcorr + 16 * v, _mm512_add_epi32(base, t));
    }
}

/* -(128 + zb) Sa_i of rows i0 .. i0 + n - 1: |Sa| <= 2^15 128, so it fits int32. */
static inline PR_TARGET_AVX512 void pr512_rowcorr(const pr_mm *m, int32_t i0, int32_t n,
                                                  int32_t *rowcorr)
{
    int32_t r;
    for (r = 0; r < n; ++r) {
        const int8_t *row = m->a + (int64_t)(i0 + r) * m->a_step;
        rowcorr[r] = -(128 + m->b_zero_point) * pr512_sum_s8(row, m->depth);
    }
}

enum { PR512_ROWS_MAX = 512 }; /* rows per tile when the depth is one chunk */

/* The whole product described by m (checked by the caller): tiles of rows, in each
 * the panels of columns, in each the chunks of the depth. */
PR_TARGET_AVX512 void pr_x86_avx512_mm(const pr_mm *m)
{
    int32_t panel[PR512_GC * PR512_NC];
    int32_t tile[PR512_TILE_ROWS * PR512_NC];
    int32_t colsum[PR512_NC];
    int32_t rowcorr[PR512_ROWS_MAX];
    pr512_cols cols;
    pr512_step s;
    const int32_t chunks = (m->depth + PR512_KC - 1) / PR512_KC;
    const int32_t tile_rows = chunks == 1 ? PR512_ROWS_MAX : PR512_TILE_ROWS;
    int32_t j0, c;
    s.m = m;
    s.panel = panel;
    s.cols = &cols;
    s.tile = tile;
    s.rowcorr = rowcorr;
    for (s.i0 = 0; s.i0 < m->rows; s.i0 += tile_rows) {
        s.ni = m->rows - s.i0 < tile_rows ? m->rows - s.i0 : tile_rows;
        pr512_rowcorr(m, s.i0, s.ni, rowcorr);
        for (j0 = 0; j0 < m->cols; j0 += PR512_NC) {
            const int32_t nc = m->cols - j0 < PR512_NC ? m->cols - j0 : PR512_NC;
            const int32_t V = (nc + 15) / 16;
            pr512_cols_init(m, j0, nc, &cols);
            memset(colsum, 0, sizeof colsum);
            s.j0 = j0;
            s.nc = nc;
            for (c = 0; c < chunks; ++c) {
                s.k0 = c * PR512_KC;
                s.nk = m->depth - s.k0 < PR512_KC ? m->depth - s.k0 : PR512_KC;
                s.first = c == 0;
                s.last = c == chunks - 1;
                if (m->b_kn) {
                    pr512_pack_kj(m, j0, nc, V, s.k0, s.nk, panel);
                } else {
                    pr512_pack_jk(m, j0, nc, V, s.k0, s.nk, panel);
                }
                if (m->a_zero_point != 0) {
                    pr512_panel_colsum(panel, V, (s.nk + 3) / 4, colsum);
                    if (s.last) {
                        pr512_colcorr(m, colsum, &cols); /* Sb'_j complete */
                    }
                }
                if (s.ni == 1) {
                    pr512_chunk_1row(&s, V);
                    continue;
                }
                switch (V) {
                case 1: pr512_chunk_v1(&s); break;
                case 2: pr512_chunk_v2(&s); break;
                case 3: pr512_chunk_v3(&s); break;
                default: pr512_chunk_v4(&s); break;
                }
            }
        }
    }
}
