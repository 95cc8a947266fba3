/*
 * Internal: the int8 product of the aarch64 variants (pr_mm, pr_mm_internal.h), written
 * once for both levels (not public API). pr_a64_mm_neon.c and pr_a64_mm_neondot.c
 * include this file after defining
 *   PR_A64_MM         the product's name (pr_a64_mm_neon, pr_a64_mm_neondot)
 *   PR_A64_TARGET     the attribute of its functions (empty, or PR_TARGET_DOT)
 *   PR_A64_DOT16(acc, x, w, exact)
 *                     acc (int32x4) += the 16 products x[t] w[t] (int8x16 operands),
 *                     any 4 of them summed into each lane; `exact`: a constant, 0 when
 *                     the caller has made sure that w holds no -128
 *   PR_A64_DOT16_FIRST(acc, x, w, exact)
 *                     the same with acc = 0 before (acc is not read)
 *   PR_A64_NEEDS_MIN  1 when PR_A64_DOT16 is faster with exact = 0 (the panel is then
 *                     checked for -128), else 0.
 *
 * Method. The dot products run along the depth: 16 bytes of a row of A times 16 bytes
 * of a column of B, 16 products into the 4 int32 lanes of an accumulator, whose lanes
 * are added at the end (ADDP). A block is 4 rows x 4 columns (16 accumulators); per 16
 * depth steps it loads 4 row chunks (in place) and one 64-byte group of the B panel,
 * and runs 16 PR_A64_DOT16.
 *
 * B panel (per call, on the stack): columns j0 .. j0 + nc - 1 (nc <= PR_A64_NC, a
 * multiple of 4, the columns past the product's last zero), each as n = ceil(K / 16)
 * chunks of 16 bytes; chunk c < n - 1 holds B[j, 16c .. 16c + 15], the last chunk the
 * 16 bytes ending at depth K, B[j, K - 16 .. K - 1], with the bytes already in chunk
 * n - 2 (depth < 16 (n - 1)) set to 0 (K < 16: B[j, 0 .. K - 1] and zeros). Group g of
 * 4 columns, chunk c: 64 bytes at panel + (g n + c) 64, column 4g + q at + 16 q: one
 * LD1 of 4 registers. B stored (j, k) (b_kn 0) or (k, j) (b_kn 1: transposed here).
 * A's chunks are loaded in place at the same depths: 16c, and K - 16 for the last, whose
 * bytes outside [16 (n - 1), K) meet the panel's zeros, so every product is counted once.
 * A depth < 16 copies each block's rows into 16 zero-padded bytes. A block's missing rows
 * (rows not a multiple of 4) read the block's first row again, their sums unused.
 *
 * Zero points (the attention products): with Sa_i = sum_k A[i,k] and Sb_j = sum_k B[j,k],
 *   sum_k (A - za)(B - zb) = sum_k A B - zb Sa_i - za Sb_j + K za zb     (mod 2^32),
 * whose left side fits int32: exact. The column terms come with the panel, the row terms
 * once per tile of rows. Then bias (saturating), MBQM, zero point and clamp on 4 lanes
 * (pr_a64_common.h), narrowing with saturation (SQXTN) and the clamp on 16 outputs at a
 * time: bit-identical to the reference.
 *
 * A depth > PR_A64_KMAX (4096: no panel of 4 columns fits) runs the reference's sums.
 */
#include "pr_a64_common.h"

enum {
    PR_A64_PANEL_BYTES = 16384,
    PR_A64_KMAX = PR_A64_PANEL_BYTES / 4,   /* the deepest panel of 4 columns */
    PR_A64_NC = 256,                        /* most columns in a panel */
    PR_A64_TILE = 64                        /* rows per tile (their row terms) */
};

#if defined(__GNUC__) && !defined(__clang__)
#define PR_A64_FN static PR_A64_TARGET __attribute__((optimize("no-schedule-insns")))
#else
#define PR_A64_FN static PR_A64_TARGET
#endif
#define PR_A64_INLINE_T PR_A64_INLINE PR_A64_TARGET

/* The panel and the per-column constants of its columns. */
typedef struct {
    int8_t b[PR_A64_PANEL_BYTES];
    int32_t colterm[PR_A64_NC];     /* K za zb - za Sb_j (mod 2^32), or 0 */
    int32_t bias[PR_A64_NC];
    int32_t mult[PR_A64_NC];
    int32_t left[PR_A64_NC];        /* max(shift, 0) */
    int32_t neg_right[PR_A64_NC];   /* min(shift, 0) */
    int32_t nc;                     /* columns in the panel, a multiple of 4 */
    int32_t has_min;                /* some byte of the panel is -128 */
} pr_a64_panel;

/* What a call computes, besides the pr_mm. */
typedef struct {
    int32_t n;          /* chunks of 16 depth steps, ceil(K / 16) */
    int32_t a_last;     /* depth of A's last chunk: K - 16, or 0 (K < 16: copied rows) */
    int32_t zps;        /* a zero point is not 0 */
    int32_t any_left;   /* some shift > 0 */
    int32_t uniform_right;  /* every column's shift is the same, <= -1 */
    int32_t full;       /* the clamp range is the whole output type */
} pr_a64_call;

/* ---- the B panel ------------------------------------------------------------------- */

/* Byte k of column j of B. */
PR_A64_INLINE int8_t pr_a64_b_at(const pr_mm *m, int32_t j, int32_t k)
{
    return m->b_kn ? m->b[(int64_t)k * m->b_step + j] : m->b[(int64_t)j * m->b_step + k];
}

/* Chunk c (16 bytes, layout above) of column j into dst; columns >= cols: zeros. */
PR_A64_INLINE_T void pr_a64_pack_chunk(const pr_mm *m, int32_t j, int32_t c, int32_t n,
                                       int8_t *dst)
{
    static const uint8_t index[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};
    const int32_t K = m->depth;
    const int32_t base = c < n - 1 ? 16 * c : (K >= 16 ? K - 16 : 0);
    int32_t t;
    if (j >= m->cols) {
        vst1q_s8(dst, vdupq_n_s8(0));
    } else if (!m->b_kn && c < n - 1) {
        vst1q_s8(dst, vld1q_s8(m->b + (int64_t)j * m->b_step + base));
    } else if (!m->b_kn && K >= 16) {   /* bytes t >= 16 n - K are past chunk n - 2 */
        const uint8x16_t keep = vcgeq_u8(vld1q_u8(index), vdupq_n_u8((uint8_t)(16 * n - K)));
        vst1q_s8(dst, vandq_s8(vld1q_s8(m->b + (int64_t)j * m->b_step + base),
                               vreinterpretq_s8_u8(keep)));
    } else {                             /* keep depth [16 (n - 1), K) of the last chunk */
        for (t = 0; t < 16; ++t) {
            const int32_t k = base + t;
            dst[t] = (c < n - 1 || (k >= 16 * (n - 1) && k < K)) ? pr_a64_b_at(m, j, k) : 0;
        }
    }
}

/* Chunk c of the 4 columns j .. j + 3 (all < cols) of B stored (k, j) (b_kn 1): the 16
 * words B[k, j .. j + 3] of the chunk's depths k (0 outside the chunk's valid depths,
 * as in pr_a64_pack_chunk) gathered, then LD4 splits them into the 4 columns. */
PR_A64_INLINE_T void pr_a64_pack_kn4(const pr_mm *m, int32_t j, int32_t c, int32_t n,
                                     int8_t *dst)
{
    const int32_t K = m->depth;
    const int32_t base = c < n - 1 ? 16 * c : (K >= 16 ? K - 16 : 0);
    const int32_t lo = c < n - 1 ? base : 16 * (n - 1);
    const int32_t hi = c < n - 1 ? base + 16 : K;
    uint32_t words[16];
    int8x16x4_t cols;
    int32_t t;
    for (t = 0; t < 16; ++t) {
        const int32_t k = base + t;
        words[t] = 0;
        if (k >= lo && k < hi) {
            memcpy(&words[t], m->b + (int64_t)k * m->b_step + j, 4);
        }
    }
    cols = vld4q_s8((const int8_t *)(const void *)words);
    vst1q_s8(dst, cols.val[0]);
    vst1q_s8(dst + 16, cols.val[1]);
    vst1q_s8(dst + 32, cols.val[2]);
    vst1q_s8(dst + 48, cols.val[3]);
}

/* Per-column values v[j0 + 4g .. + 3] (one v[0] for all when `one`), 0 past cols. */
PR_A64_INLINE int32x4_t pr_a64_cols4(const int32_t *v, int32_t one, int32_t j, int32_t cols)
{
    int32_t t[4] = {0, 0, 0, 0};
    int32_t q;
    if (one) {
        return vdupq_n_s32(v[0]);
    }
    if (j + 4 <= cols) {
        return vld1q_s32(v + j);
    }
    for (q = 0; j + q < cols; ++q) {
        t[q] = v[j + q];
    }
    return vld1q_s32(t);
}

/* Pack columns j0 .. j0 + nc - 1 (nc a multiple of 4) and their constants. */
PR_A64_FN void pr_a64_pack(const pr_mm *m, const pr_a64_call *call, int32_t j0, int32_t nc,
                           pr_a64_panel *p)
{
    const int32_t n = call->n;
    const uint32_t kzz = (uint32_t)m->depth * (uint32_t)m->a_zero_point *
                         (uint32_t)m->b_zero_point;
    int8x16_t lowest = vdupq_n_s8(127);
    int32_t g, c, q;
    p->nc = nc;
    for (g = 0; g < nc / 4; ++g) {
        const int32_t j = j0 + 4 * g;
        const int32x4_t shift = pr_a64_cols4(m->shift, m->per_tensor, j, m->cols);
        for (c = 0; c < n; ++c) {
            int8_t *dst = p->b + (int64_t)(g * n + c) * 64;
            if (m->b_kn && j + 4 <= m->cols) {
                pr_a64_pack_kn4(m, j, c, n, dst);
            } else {
                for (q = 0; q < 4; ++q) {
                    pr_a64_pack_chunk(m, j + q, c, n, dst + 16 * q);
                }
            }
            if (PR_A64_NEEDS_MIN) {
                const int8x16x4_t v = vld1q_s8_x4(dst);
                lowest = vminq_s8(lowest, vminq_s8(vminq_s8(v.val[0], v.val[1]),
                                                   vminq_s8(v.val[2], v.val[3])));
            }
        }
        vst1q_s32(p->mult + 4 * g, pr_a64_cols4(m->multiplier, m->per_tensor, j, m->cols));
        vst1q_s32(p->left + 4 * g, vmaxq_s32(shift, vdupq_n_s32(0)));
        vst1q_s32(p->neg_right + 4 * g, vminq_s32(shift, vdupq_n_s32(0)));
        vst1q_s32(p->bias + 4 * g, m->bias != NULL ? pr_a64_cols4(m->bias, 0, j, m->cols)
                                                   : vdupq_n_s32(0));
        for (q = 0; q < 4 && m->a_zero_point != 0; ++q) {   /* K za zb - za Sb_j */
            int32x4_t sum = vdupq_n_s32(0);
            for (c = 0; c < n; ++c) {
                sum = vpadalq_s16(sum, vpaddlq_s8(vld1q_s8(p->b + ((int64_t)(g * n + c) * 4 +
                                                                   q) * 16)));
            }
            p->colterm[4 * g + q] = (int32_t)(kzz - (uint32_t)m->a_zero_point *
                                                        (uint32_t)vaddvq_s32(sum));
        }
        if (m->a_zero_point == 0) {
            vst1q_s32(p->colterm + 4 * g, vdupq_n_s32((int32_t)kzz));   /* 0 */
        }
    }
    p->has_min = vminvq_s8(lowest) == -128;
}

/* ---- the 4 x 4 block ---------------------------------------------------------------- */

typedef struct {
    int32x4_t s[4][4];   /* row r, column q: 4 partial sums */
} pr_a64_acc;

/* One chunk: rows x[0..3] (16 bytes each) times the 4 columns of w; `first`: the
 * accumulators start here (PR_A64_DOT16_FIRST, no zeroing). */
#define PR_A64_CHUNK(acc, x, w, exact, first)                                             \
    do {                                                                                  \
        int32_t r_, q_;                                                                   \
        for (r_ = 0; r_ < 4; ++r_) {                                                      \
            for (q_ = 0; q_ < 4; ++q_) {                                                  \
                if (first) {                                                              \
                    PR_A64_DOT16_FIRST((acc).s[r_][q_], (x)[r_], (w).val[q_], exact);     \
                } else {                                                                  \
                    PR_A64_DOT16((acc).s[r_][q_], (x)[r_], (w).val[q_], exact);           \
                }                                                                         \
            }                                                                             \
        }                                                                                 \
    } while (0)

/* The 16 sums of rows a[0..3] with the 4 columns of group bp: out[r] lane q = row r,
 * column q. Chunks: 0 (the accumulators' start), 1 .. n - 2 in place at 16 c, and the
 * last at a_last (chunk 0 is the last when n = 1). */
PR_A64_INLINE_T void pr_a64_block(const int8_t *const a[4], const int8_t *bp, int32_t n,
                                  int32_t a_last, int32_t exact, int32x4_t out[4])
{
    pr_a64_acc acc;
    int8x16_t x[4];
    int8x16x4_t w;
    int32_t r, c;
    const int32_t first = n == 1 ? a_last : 0;
    w = vld1q_s8_x4(bp);
    for (r = 0; r < 4; ++r) {
        x[r] = vld1q_s8(a[r] + first);
    }
    PR_A64_CHUNK(acc, x, w, exact, 1);
    for (c = 1; c < n - 1; ++c) {
        w = vld1q_s8_x4(bp + 64 * c);
        for (r = 0; r < 4; ++r) {
            x[r] = vld1q_s8(a[r] + 16 * c);
        }
        PR_A64_CHUNK(acc, x, w, exact, 0);
    }
    if (n > 1) {
        w = vld1q_s8_x4(bp + 64 * (n - 1));
        for (r = 0; r < 4; ++r) {
            x[r] = vld1q_s8(a[r] + a_last);
        }
        PR_A64_CHUNK(acc, x, w, exact, 0);
    }
    for (r = 0; r < 4; ++r) {
        out[r] = vpaddq_s32(vpaddq_s32(acc.s[r][0], acc.s[r][1]),
                            vpaddq_s32(acc.s[r][2], acc.s[r][3]));
    }
}

/* ---- requantization and stores ------------------------------------------------------ */

/* The block's exact sums -> MBQM + zero point (int32): zero-point terms, bias (SQADD),
 * MBQM (pr_a64_mbqm; with one right shift for every column, the products' multipliers
 * being >= 0, pr_a64_mbqm1's three-instruction form), zero point (SQADD). The clamp to
 * [act_min, act_max] comes after the saturating narrowing (pr_a64_store), which gives
 * the same values because the range lies inside the output type. */
PR_A64_INLINE_T void pr_a64_finish(const pr_mm *m, const pr_a64_call *call,
                                   const pr_a64_panel *p, int32_t jp, const int32_t *rowterm,
                                   int32x4_t v[4])
{
    const int32x4_t bias = vld1q_s32(p->bias + jp);
    const int32x4_t zp = vdupq_n_s32(m->out_zero_point);
    pr_a64_mbqm_c q;
    int32_t r;
    q.mult = vld1q_s32(p->mult + jp);
    if (call->uniform_right) {
        q.neg_right = vdupq_n_s32(m->shift[0]);
    } else {
        q.left = vld1q_s32(p->left + jp);
        q.neg_right = vld1q_s32(p->neg_right + jp);
    }
    for (r = 0; r < 4; ++r) {
        int32x4_t s = v[r];
        if (call->zps) {
            s = vsubq_s32(vaddq_s32(s, vld1q_s32(p->colterm + jp)), vdupq_n_s32(rowterm[r]));
        }
        s = vqaddq_s32(s, bias);
        if (call->uniform_right) {
            s = pr_a64_rdbp_right(vqrdmulhq_s32(s, q.mult), q.neg_right);
        } else {
            s = pr_a64_mbqm(&q, s, call->any_left);
        }
        v[r] = vqaddq_s32(s, zp);
    }
}

/* Rows 0 .. nr - 1 (nr <= 4) at y[r] (row r's output at column j), columns j .. j + nq - 1
 * (nq <= 4), from v[r]: saturating narrowing, clamp, stores. */
PR_A64_INLINE_T void pr_a64_store(const pr_mm *m, const pr_a64_call *call, int8_t *const y[4],
                                  int32_t j, int32_t nr, int32_t nq, const int32x4_t v[4])
{
    int32_t r, q;
    if (m->y_bytes == 1) {
        int8x16_t o = vqmovn_high_s16(vqmovn_s16(vqmovn_high_s32(vqmovn_s32(v[0]), v[1])),
                                      vqmovn_high_s32(vqmovn_s32(v[2]), v[3]));
        int8_t t[16];
        if (!call->full) {
            o = vminq_s8(vmaxq_s8(o, vdupq_n_s8((int8_t)m->act_min)),
                         vdupq_n_s8((int8_t)m->act_max));
        }
        vst1q_s8(t, o);
        if (nr == 4 && nq == 4) {
            memcpy(y[0] + j, t, 4);
            memcpy(y[1] + j, t + 4, 4);
            memcpy(y[2] + j, t + 8, 4);
            memcpy(y[3] + j, t + 12, 4);
            return;
        }
        for (r = 0; r < nr; ++r) {
            for (q = 0; q < nq; ++q) {
                y[r][j + q] = t[4 * r + q];
            }
        }
    } else {
        int16x8_t o01 = vqmovn_high_s32(vqmovn_s32(v[0]), v[1]);
        int16x8_t o23 = vqmovn_high_s32(vqmovn_s32(v[2]), v[3]);
        int16_t t[16];
        if (!call->full) {
            const int16x8_t lo = vdupq_n_s16((int16_t)m->act_min);
            const int16x8_t hi = vdupq_n_s16((int16_t)m->act_max);
            o01 = vminq_s16(vmaxq_s16(o01, lo), hi);
            o23 = vminq_s16(vmaxq_s16(o23, lo), hi);
        }
        vst1q_s16(t, o01);
        vst1q_s16(t + 8, o23);
        if (nr == 4 && nq == 4) {
            memcpy(y[0] + 2 * j, t, 8);
            memcpy(y[1] + 2 * j, t + 4, 8);
            memcpy(y[2] + 2 * j, t + 8, 8);
            memcpy(y[3] + 2 * j, t + 12, 8);
            return;
        }
        for (r = 0; r < nr; ++r) {
            memcpy(y[r] + 2 * j, t + 4 * r, (size_t)nq * 2);
        }
    }
}

/* ---- the driver ---------------------------------------------------------------------- */

/* zb Sa_i (mod 2^32) of rows i0 .. i0 + nr - 1 (0 when zb = 0). */
PR_A64_FN void pr_a64_rowterms(const pr_mm *m, int64_t i0, int32_t nr, int32_t *out)
{
    int32_t r, k;
    for (r = 0; r < nr; ++r) {
        const int8_t *a = m->a + (i0 + r) * m->a_step;
        int32x4_t sum = vdupq_n_s32(0);
        int32_t s;
        for (k = 0; k + 16 <= m->depth; k += 16) {
            sum = vpadalq_s16(sum, vpaddlq_s8(vld1q_s8(a + k)));
        }
        s = vaddvq_s32(sum);
        for (; k < m->depth; ++k) {
            s += a[k];
        }
        out[r] = (int32_t)((uint32_t)m->b_zero_point * (uint32_t)s);
    }
}

/* Rows i0 .. i0 + nr - 1 (nr <= PR_A64_TILE) against the whole panel (from column j0):
 * for each block of 4 rows, every group of 4 columns. */
PR_A64_INLINE_T void pr_a64_tile(const pr_mm *m, const pr_a64_call *call,
                                 const pr_a64_panel *p, int32_t j0, int64_t i0, int32_t nr,
                                 int32_t exact)
{
    int32_t rowterm[PR_A64_TILE + 3] = {0};
    int8_t copy[PR_A64_TILE][16];        /* the rows when K < 16, zero-padded */
    const int32_t K = m->depth;
    const int32_t ng = (m->cols - j0 + 3) / 4 < p->nc / 4 ? (m->cols - j0 + 3) / 4 : p->nc / 4;
    int32_t g, r, ib;
    if (call->zps && m->b_zero_point != 0) {
        pr_a64_rowterms(m, i0, nr, rowterm);
    }
    for (r = 0; r < nr && K < 16; ++r) {
        memset(copy[r], 0, 16);
        memcpy(copy[r], m->a + (i0 + r) * m->a_step, (size_t)K);
    }
    for (ib = 0; ib < nr; ib += 4) {
        const int32_t rows = nr - ib < 4 ? nr - ib : 4;
        const int8_t *a[4];
        int8_t *y[4];
        for (r = 0; r < 4; ++r) {    /* missing rows: the block's first row again */
            const int32_t row = ib + (r < rows ? r : 0);
            a[r] = K < 16 ? copy[row] : m->a + (i0 + row) * m->a_step;
            y[r] = (int8_t *)m->y + ((i0 + row) * m->y_step + j0) * m->y_bytes;
        }
        for (g = 0; g < ng; ++g) {
            const int32_t nq = m->cols - j0 - 4 * g < 4 ? m->cols - j0 - 4 * g : 4;
            int32x4_t v[4];
            pr_a64_block(a, p->b + (int64_t)g * call->n * 64, call->n, call->a_last, exact, v);
            pr_a64_finish(m, call, p, 4 * g, rowterm + ib, v);
            pr_a64_store(m, call, y, 4 * g, rows, nq, v);
        }
    }
}

/* The tile with a constant `exact` (compiled twice where PR_A64_NEEDS_MIN). */
PR_A64_FN __attribute__((noinline)) void pr_a64_tile_exact(
    const pr_mm *m, const pr_a64_call *call, const pr_a64_panel *p, int32_t j0, int64_t i0,
    int32_t nr)
{
    pr_a64_tile(m, call, p, j0, i0, nr, 1);
}

#if PR_A64_NEEDS_MIN
PR_A64_FN __attribute__((noinline)) void pr_a64_tile_fast(
    const pr_mm *m, const pr_a64_call *call, const pr_a64_panel *p, int32_t j0, int64_t i0,
    int32_t nr)
{
    pr_a64_tile(m, call, p, j0, i0, nr, 0);
}
#endif

/* The reference's sums, for depths no panel holds. */
PR_A64_FN void pr_a64_mm_scalar(const pr_mm *m)
{
    int64_t i;
    int32_t j, k;
    for (i = 0; i < m->rows; ++i) {
        const int8_t *a = m->a + i * m->a_step;
        for (j = 0; j < m->cols; ++j) {
            int32_t acc = 0;
            for (k = 0; k < m->depth; ++k) {
                acc += ((int32_t)a[k] - m->a_zero_point) *
                       ((int32_t)pr_a64_b_at(m, j, k) - m->b_zero_point);
            }
            pr_mm_store_one(m, i, j, acc);
        }
    }
}

/* Tiles of rows against one packed panel, in the panel's exactness. */
PR_A64_FN void pr_a64_panel_rows(const pr_mm *m, const pr_a64_call *call,
                                 const pr_a64_panel *p, int32_t j0)
{
    int64_t i0;
    for (i0 = 0; i0 < m->rows; i0 += PR_A64_TILE) {
        const int32_t nr = m->rows - i0 < PR_A64_TILE ? (int32_t)(m->rows - i0) : PR_A64_TILE;
#if PR_A64_NEEDS_MIN
        if (!p->has_min) {
            pr_a64_tile_fast(m, call, p, j0, i0, nr);
            continue;
        }
#endif
        pr_a64_tile_exact(m, call, p, j0, i0, nr);
    }
}

PR_A64_TARGET void PR_A64_MM(const pr_mm *m)
{
    pr_a64_panel p;
    pr_a64_call call;
    const int32_t K = m->depth;
    const int32_t type_min = m->y_bytes == 1 ? -128 : -32768;
    int32_t j0, nc, per_panel, j;
    call.n = (K + 15) / 16;
    if (K > PR_A64_KMAX) {
        pr_a64_mm_scalar(m);
        return;
    }
    call.a_last = K >= 16 ? K - 16 : 0;
    call.zps = m->a_zero_point != 0 || m->b_zero_point != 0;
    call.full = m->act_min == type_min && m->act_max == -type_min - 1;
    call.any_left = 0;
    call.uniform_right = m->shift[0] <= -1;
    for (j = 0; j < (m->per_tensor ? 1 : m->cols); ++j) {
        call.any_left |= m->shift[j] > 0;
        call.uniform_right &= m->shift[j] == m->shift[0];
    }
    per_panel = PR_A64_PANEL_BYTES / (16 * call.n) / 4 * 4;
    per_panel = per_panel < PR_A64_NC ? per_panel : PR_A64_NC;
    for (j0 = 0; j0 < m->cols; j0 += per_panel) {
        nc = (m->cols - j0 + 3) / 4 * 4;
        nc = nc < per_panel ? nc : per_panel;
        pr_a64_pack(m, &call, j0, nc, &p);
        pr_a64_panel_rows(m, &call, &p, j0);
    }
}
