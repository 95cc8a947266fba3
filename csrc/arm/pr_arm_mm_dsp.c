/*
 * The int8 matrix product of the Arm DSP variants (pr_arm_common.h, pr_mm). Three
 * paths: 4 rows expanded once (below, "fast path"), 1 to 3 rows straight through the
 * columns four at a time ("few rows"), both under the 4-instruction requantization's
 * conditions; otherwise the general path: blocks of 2 rows x 2 columns; each group of 4 depth steps takes 4 word loads, 8
 * SXTB16 and 8 SMLAD for 16 multiply-accumulates. Odd last rows and columns use the 1 x 2,
 * 2 x 1 and 1 x 1 forms; depth tails are scalar. Zero points: the exact identity of
 * pr_arm_common.h with the row sums of A and the column sums of B (the latter per
 * chunk of PR_ARM_MM_CHUNK columns, on the stack), computed only when needed.
 */
#include "pr_arm_common.h"

enum { PR_ARM_MM_CHUNK = 32 };

/*
 * The dot-product loops are separate functions compiled without gcc's first
 * instruction scheduling pass: that pass hoists the loads of the unrolled loop and
 * runs out of registers (15 values are live in a 2 x 2 step; the M-profile has 14).
 */
#if defined(__GNUC__) && !defined(__clang__)
#define PR_ARM_DOT_FN static __attribute__((noinline, optimize("no-schedule-insns")))
#else
#define PR_ARM_DOT_FN static __attribute__((noinline))
#endif

typedef struct {
    int32_t s00, s01, s10, s11;
} pr_arm_acc4;

/* Four depth steps of rows x0, x1 (of A) against rows w0, w1 (of B), one word each. */
PR_ARM_INLINE void pr_arm_mac_2x2(pr_arm_acc4 *s, int32_t x0, int32_t x1, int32_t w0,
                                  int32_t w1)
{
    const int32_t w0e = pr_arm_even(w0), w0o = pr_arm_odd(w0);
    const int32_t w1e = pr_arm_even(w1), w1o = pr_arm_odd(w1);
    int32_t xe = pr_arm_even(x0), xo = pr_arm_odd(x0);
    s->s00 = __smlad(xe, w0e, s->s00);
    s->s01 = __smlad(xe, w1e, s->s01);
    s->s00 = __smlad(xo, w0o, s->s00);
    s->s01 = __smlad(xo, w1o, s->s01);
    xe = pr_arm_even(x1);
    xo = pr_arm_odd(x1);
    s->s10 = __smlad(xe, w0e, s->s10);
    s->s11 = __smlad(xe, w1e, s->s11);
    s->s10 = __smlad(xo, w0o, s->s10);
    s->s11 = __smlad(xo, w1o, s->s11);
}

/* The depth tail (n % 8 steps) of the 2 x 2 products, added to s. */
PR_ARM_INLINE void pr_arm_tail_2x2(pr_arm_acc4 *s, int32_t n, const int8_t *a0,
                                   const int8_t *a1, const int8_t *b0, const int8_t *b1)
{
    int32_t k = 0;
    if (n >= 4) {
        pr_arm_mac_2x2(s, pr_arm_load32(a0), pr_arm_load32(a1), pr_arm_load32(b0),
                       pr_arm_load32(b1));
        k = 4;
    }
    for (; k < n; ++k) {
        s->s00 += (int32_t)a0[k] * b0[k];
        s->s01 += (int32_t)a0[k] * b1[k];
        s->s10 += (int32_t)a1[k] * b0[k];
        s->s11 += (int32_t)a1[k] * b1[k];
    }
}

/* The four dot products of rows a0, a1 with rows b0, b1 (depth n): 8 depth steps per
 * iteration (8 loads, 16 SXTB16, 16 SMLAD for 32 multiply-accumulates, and about 8
 * instructions of loop and spills). */
PR_ARM_DOT_FN void pr_arm_dot_2x2(int32_t n, const int8_t *a0, const int8_t *a1,
                                  const int8_t *b0, const int8_t *b1, int32_t out[4])
{
    pr_arm_acc4 s = {0, 0, 0, 0};
    const int8_t *end8 = a0 + (n & ~7);
    while (a0 != end8) {
        pr_arm_mac_2x2(&s, pr_arm_load32(a0), pr_arm_load32(a1), pr_arm_load32(b0),
                       pr_arm_load32(b1));
        pr_arm_mac_2x2(&s, pr_arm_load32(a0 + 4), pr_arm_load32(a1 + 4),
                       pr_arm_load32(b0 + 4), pr_arm_load32(b1 + 4));
        a0 += 8;
        a1 += 8;
        b0 += 8;
        b1 += 8;
    }
    pr_arm_tail_2x2(&s, n & 7, a0, a1, b0, b1);
    out[0] = s.s00;
    out[1] = s.s01;
    out[2] = s.s10;
    out[3] = s.s11;
}

/* The same when the second rows are one common step after the first (a1 = a + step,
 * b1 = b + step: linear layers, Q K^T): one register fewer, about 6 instructions of
 * loop and spills per iteration. */
PR_ARM_DOT_FN void pr_arm_dot_2x2_step(int32_t n, const int8_t *a, const int8_t *b,
                                       int64_t step, int32_t out[4])
{
    pr_arm_acc4 s = {0, 0, 0, 0};
    const int8_t *end8 = a + (n & ~7);
    while (a != end8) {
        pr_arm_mac_2x2(&s, pr_arm_load32(a), pr_arm_load32(a + step), pr_arm_load32(b),
                       pr_arm_load32(b + step));
        pr_arm_mac_2x2(&s, pr_arm_load32(a + 4), pr_arm_load32(a + step + 4),
                       pr_arm_load32(b + 4), pr_arm_load32(b + step + 4));
        a += 8;
        b += 8;
    }
    pr_arm_tail_2x2(&s, n & 7, a, a + step, b, b + step);
    out[0] = s.s00;
    out[1] = s.s01;
    out[2] = s.s10;
    out[3] = s.s11;
}

/* The dot products of row a0 with rows b0, b1. */
PR_ARM_DOT_FN void pr_arm_dot_1x2(int32_t n, const int8_t *a0, const int8_t *b0,
                                  const int8_t *b1, int32_t out[2])
{
    int32_t s0 = 0, s1 = 0;
    const int8_t *end4 = a0 + (n & ~3);
    const int8_t *end = a0 + n;
    for (; a0 != end4; a0 += 4, b0 += 4, b1 += 4) {
        const int32_t x = pr_arm_load32(a0);
        const int32_t xe = pr_arm_even(x), xo = pr_arm_odd(x);
        const int32_t w0 = pr_arm_load32(b0);
        const int32_t w1 = pr_arm_load32(b1);
        s0 = __smlad(xe, pr_arm_even(w0), s0);
        s0 = __smlad(xo, pr_arm_odd(w0), s0);
        s1 = __smlad(xe, pr_arm_even(w1), s1);
        s1 = __smlad(xo, pr_arm_odd(w1), s1);
    }
    for (; a0 != end; ++a0, ++b0, ++b1) {
        s0 += (int32_t)*a0 * *b0;
        s1 += (int32_t)*a0 * *b1;
    }
    out[0] = s0;
    out[1] = s1;
}

/* Row sums of A or B times a zero point (0 when the zero point is 0). */
static int32_t pr_arm_zp_sum(int32_t n, const int8_t *p, int32_t zp)
{
    return zp == 0 ? 0 : (int32_t)((uint32_t)zp * (uint32_t)pr_arm_sum_s8(n, p));
}

/* The raw sums of rows i0 (and i0 + 1 when two) of A with the columns j0 .. j0 + nc - 1
 * (rows of B): acc[0][c] and acc[1][c]. */
static void pr_arm_mm_tile(const pr_mm *m, int64_t i0, int32_t two, int32_t j0,
                           int32_t nc, int32_t acc[2][PR_ARM_MM_CHUNK])
{
    const int32_t K = m->depth;
    const int8_t *a0 = m->a + i0 * m->a_step;
    const int8_t *a1 = two ? a0 + m->a_step : a0;
    int32_t c = 0;
    int32_t s[4] = {0, 0, 0, 0};
    for (; c + 2 <= nc; c += 2) {
        const int8_t *b0 = m->b + (int64_t)(j0 + c) * m->b_step;
        if (!two) {
            pr_arm_dot_1x2(K, a0, b0, b0 + m->b_step, s);
        } else if (m->a_step == m->b_step) {
            pr_arm_dot_2x2_step(K, a0, b0, m->b_step, s);
        } else {
            pr_arm_dot_2x2(K, a0, a1, b0, b0 + m->b_step, s);
        }
        acc[0][c] = s[0];
        acc[0][c + 1] = s[1];
        acc[1][c] = s[2];
        acc[1][c + 1] = s[3];
    }
    if (c < nc) {   /* odd last column */
        const int8_t *b0 = m->b + (int64_t)(j0 + c) * m->b_step;
        acc[0][c] = pr_arm_dot_1x1(K, a0, b0);
        acc[1][c] = two ? pr_arm_dot_1x1(K, a1, b0) : 0;
    }
}

/* y[i, j0 + c] for c < n from the exact sums acc[c] (bias not yet added). uniform:
 * every column's shift is the same value <= 0 (the usual case: one shift per layer),
 * so the rounding constants are computed once; full: the clamp range is the whole
 * output type, a saturation (SSAT) after the saturating zero-point add (QADD). */
PR_ARM_INLINE void pr_arm_mm_requant_row(const pr_mm *m, int32_t j0, int32_t n,
                                         const int32_t *acc, int64_t i, int32_t y_bytes,
                                         int32_t uniform, int32_t full)
{
    const int32_t *bias = m->bias != NULL ? m->bias + j0 : NULL;
    const int32_t step = m->per_tensor ? 0 : 1;
    const int32_t *mult = m->multiplier + step * j0;
    const int32_t *shift = m->shift + step * j0;
    const int32_t zp = m->out_zero_point, lo = m->act_min, hi = m->act_max;
    const int32_t right = -shift[0];
    const int32_t mask = (int32_t)(((uint32_t)1 << (right & 31)) - 1u), half = mask >> 1;
    int8_t *y8 = (int8_t *)m->y + i * m->y_step + j0;
    int16_t *y16 = (int16_t *)m->y + i * m->y_step + j0;
    int32_t c;
    for (c = 0; c < n; ++c) {
        const int32_t v = bias != NULL ? __qadd(acc[c], bias[c]) : acc[c];   /* sat32 */
        int32_t q = uniform ? pr_arm_mbqm_right(v, mult[c * step], right, mask, half)
                            : pr_arm_mbqm(v, mult[c * step], shift[c * step]);
        q = __qadd(q, zp);
        if (full) {
            q = y_bytes == 1 ? __ssat(q, 8) : __ssat(q, 16);
        } else {
            q = q < lo ? lo : (q > hi ? hi : q);
        }
        if (y_bytes == 1) {
            y8[c] = (int8_t)q;
        } else {
            y16[c] = (int16_t)q;
        }
    }
}

/* The same, each loop compiled for its output type and case. */
static void pr_arm_mm_requant(const pr_mm *m, int32_t j0, int32_t n,
                              const int32_t *acc, int64_t i, int32_t uniform)
{
    const int32_t bits = m->y_bytes == 1 ? 8 : 16;
    const int32_t full = uniform && m->act_min == -(1 << (bits - 1)) &&
                         m->act_max == (1 << (bits - 1)) - 1;
    if (m->y_bytes == 1) {
        if (full) {
            pr_arm_mm_requant_row(m, j0, n, acc, i, 1, 1, 1);
        } else {
            pr_arm_mm_requant_row(m, j0, n, acc, i, 1, uniform, 0);
        }
    } else if (full) {
        pr_arm_mm_requant_row(m, j0, n, acc, i, 2, 1, 1);
    } else {
        pr_arm_mm_requant_row(m, j0, n, acc, i, 2, uniform, 0);
    }
}

/* Whether every column has the same shift, <= 0. */
static int32_t pr_arm_mm_uniform_shift(const pr_mm *m)
{
    int32_t j;
    if (m->shift[0] > 0) {
        return 0;
    }
    for (j = 1; j < m->cols && !m->per_tensor; ++j) {
        if (m->shift[j] != m->shift[0]) {
            return 0;
        }
    }
    return 1;
}

/* ---- fast path: 4 rows of A expanded to int16 once, one column of B at a time ---- */

/*
 * When every column has the same right shift (n >= 1), the depth is a multiple of 4
 * up to PR_ARM_MM4_DEPTH, the clamp range is the whole output type (SSAT) and
 * |bias| + K 255^2 < 2^30, a group of 4 rows of A is
 * sign-extended once into int16 pairs (SXTB16 order: per 4 depth steps, lanes 0, 2
 * then 1, 3 of each row); then each column of B costs, per 4 depth steps, one word
 * load and two SXTB16 (shared by the 4 rows), 4 LDRD of the rows' pairs and 8 SMLAD
 * for 16 multiply-accumulates. Each accumulator starts at bias_j + K za zb - za sum
 * B_j - zb sum A_i (mod 2^32; the exact sum fits int32 and |x| < 2^30, so the
 * reference's saturating bias add never saturates), and the requantization is
 * pr_arm_fast_rq (pr_arm_common.h).
 */
enum { PR_ARM_MM4_DEPTH = 128, PR_ARM_MM4_COLS = 64 };

typedef struct {
    const int32_t *x;       /* the 4 expanded rows: K / 4 groups of 8 words */
    int32_t groups;         /* K / 4 */
    const int8_t *b;        /* row j of B at b + j * b_step */
    int64_t b_step;
    const int32_t *init;    /* per column: bias_j + K za zb - za sum B_j (NULL: 0) */
    int32_t row_term[4];    /* zb sum A_i per row */
    const int32_t *mult;    /* per column, or one (per_tensor) */
    int32_t mult_step;
    int32_t n, c;           /* right shift and pr_arm_fast_c's constant */
    void *y;                /* y[r, j] at y + r * y_step + j */
    int64_t y_step;
} pr_arm_mm4;

/* One group of 4 depth steps: the B word at w (then w += 4) split into its even and
 * odd lanes, times each row's pair (LDRD) at x (then x += 32). */
#define PR_ARM_MM4_GROUP                                                                    \
    "ldr    %[v], [%[w]], #4\n\t"                                                           \
    "sxtb16 %[ve], %[v]\n\t"                                                                \
    "sxtb16 %[v], %[v], ror #8\n\t"                                                         \
    "ldrd   %[xa], %[xb], [%[x]], #32\n\t"                                                  \
    "smlad  %[s0], %[xa], %[ve], %[s0]\n\t"                                                 \
    "smlad  %[s0], %[xb], %[v], %[s0]\n\t"                                                  \
    "ldrd   %[xa], %[xb], [%[x], #-24]\n\t"                                                 \
    "smlad  %[s1], %[xa], %[ve], %[s1]\n\t"                                                 \
    "smlad  %[s1], %[xb], %[v], %[s1]\n\t"                                                  \
    "ldrd   %[xa], %[xb], [%[x], #-16]\n\t"                                                 \
    "smlad  %[s2], %[xa], %[ve], %[s2]\n\t"                                                 \
    "smlad  %[s2], %[xb], %[v], %[s2]\n\t"                                                  \
    "ldrd   %[xa], %[xb], [%[x], #-8]\n\t"                                                  \
    "smlad  %[s3], %[xa], %[ve], %[s3]\n\t"                                                 \
    "smlad  %[s3], %[xb], %[v], %[s3]\n\t"

#define PR_ARM_MM4_OPERANDS                                                                 \
    : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [x] "+r"(x),            \
      [w] "+r"(w), [v] "=&r"(v), [ve] "=&r"(ve), [xa] "=&r"(xa), [xb] "=&r"(xb)           \
    :                                                                                       \
    : "memory"

/* The 4 dot products of one column (B row w) with the expanded rows, added to s0..s3:
 * 17 instructions per 16 multiply-accumulates (two groups per loop iteration). */
#define PR_ARM_MM4_DOT(x0, groups, w0)                                                      \
    do {                                                                                    \
        const int32_t *x = (x0);                                                            \
        const int8_t *w = (w0);                                                             \
        const int32_t *end = x + 8 * (groups);                                              \
        int32_t v, ve, xa, xb;                                                              \
        if ((groups) & 1) {                                                                 \
            __asm__ volatile(PR_ARM_MM4_GROUP PR_ARM_MM4_OPERANDS);                         \
        }                                                                                   \
        while (x != end) {                                                                  \
            __asm__ volatile(PR_ARM_MM4_GROUP PR_ARM_MM4_GROUP PR_ARM_MM4_OPERANDS);        \
        }                                                                                   \
    } while (0)

/* Saturate to the output type (the clamp range is the whole type) and store. */
#define PR_ARM_MM4_STORE(yr, j, val)                                                        \
    do {                                                                                    \
        if (bits == 8) {                                                                    \
            ((int8_t *)(yr))[j] = (int8_t)__ssat((val), 8);                                 \
        } else {                                                                            \
            ((int16_t *)(yr))[j] = (int16_t)__ssat((val), 16);                              \
        }                                                                                   \
    } while (0)

/* Columns j0 .. j0 + nc - 1 of the nr (1..4) rows of the group; g->y points at the
 * group's first row and column j0; bits: 8 or 16. The operands are copied to locals:
 * the int8 stores may alias anything. */
PR_ARM_INLINE void pr_arm_mm4_cols(const pr_arm_mm4 *g, int32_t j0, int32_t nc, int32_t nr,
                                   int32_t bits)
{
    const int32_t *xg = g->x, *init = g->init;
    const int32_t groups = g->groups, n = g->n, c = g->c;
    const int32_t t0 = g->row_term[0], t1 = g->row_term[1], t2 = g->row_term[2];
    const int32_t t3 = g->row_term[3];
    const int32_t *mult = g->mult + j0 * g->mult_step;
    const int32_t mult_step = g->mult_step;
    const int8_t *b = g->b + (int64_t)j0 * g->b_step;
    const int64_t b_step = g->b_step;
    const int64_t ys = g->y_step * (bits / 8);
    uint8_t *y0 = (uint8_t *)g->y, *y1 = y0 + ys, *y2 = y1 + ys, *y3 = y2 + ys;
    int32_t j;
    for (j = 0; j < nc; ++j, b += b_step) {
        const uint32_t i0 = init != NULL ? (uint32_t)init[j] : 0u;
        const int32_t mj = mult[j * mult_step];
        int32_t s0 = (int32_t)(i0 - (uint32_t)t0), s1 = (int32_t)(i0 - (uint32_t)t1);
        int32_t s2 = (int32_t)(i0 - (uint32_t)t2), s3 = (int32_t)(i0 - (uint32_t)t3);
        PR_ARM_MM4_DOT(xg, groups, b);
        PR_ARM_MM4_STORE(y0, j, pr_arm_fast_rq(s0, mj, n, c));
        if (nr == 4) {
            PR_ARM_MM4_STORE(y1, j, pr_arm_fast_rq(s1, mj, n, c));
            PR_ARM_MM4_STORE(y2, j, pr_arm_fast_rq(s2, mj, n, c));
            PR_ARM_MM4_STORE(y3, j, pr_arm_fast_rq(s3, mj, n, c));
        } else {
            if (nr > 1) {
                PR_ARM_MM4_STORE(y1, j, pr_arm_fast_rq(s1, mj, n, c));
            }
            if (nr > 2) {
                PR_ARM_MM4_STORE(y2, j, pr_arm_fast_rq(s2, mj, n, c));
            }
        }
    }
}

static void pr_arm_mm4_cols_any(const pr_arm_mm4 *g, int32_t j0, int32_t nc, int32_t nr,
                                int32_t bits)
{
    if (bits == 8) {
        pr_arm_mm4_cols(g, j0, nc, nr, 8);
    } else {
        pr_arm_mm4_cols(g, j0, nc, nr, 16);
    }
}

/* Rows i0 .. i0 + nr - 1 of A (nr <= 4; missing rows are zeros) into x. */
static void pr_arm_mm4_expand(const pr_mm *m, int64_t i0, int32_t nr, int32_t *x)
{
    const int32_t groups = m->depth / 4;
    int32_t r, k;
    for (r = 0; r < 4; ++r) {
        const int8_t *a = m->a + (i0 + r) * m->a_step;
        int32_t *out = x + 2 * r;
        if (r >= nr) {
            for (k = 0; k < groups; ++k, out += 8) {
                out[0] = 0;
                out[1] = 0;
            }
            continue;
        }
        for (k = 0; k < groups; ++k, a += 4, out += 8) {
            const int32_t v = pr_arm_load32(a);
            out[0] = pr_arm_even(v);
            out[1] = pr_arm_odd(v);
        }
    }
}

/*
 * Whether the 4-instruction requantization serves every output of the product (the
 * fast paths' conditions but the depth): every column has the same right shift n >= 1,
 * the clamp range is the whole output type, and |bias| + K 255^2 < 2^30 bounds every
 * accumulator; then *c is pr_arm_fast_c's constant and *n the right shift.
 */
PR_ARM_INLINE int32_t pr_arm_fast_ok(const pr_mm *m, int32_t uniform, int32_t *n, int32_t *c)
{
    /* 2^30 - K 255^2 > 0 iff K <= 16512; then it fits int32 */
    const int32_t limit = m->depth <= 16512 ? (1 << 30) - m->depth * 65025 : 0;
    const int32_t type_max = m->y_bytes == 1 ? 127 : 32767;
    int32_t j;
    if (!uniform || limit <= 0 || m->act_min != -type_max - 1 || m->act_max != type_max ||
        !pr_arm_fast_c(m->shift[0], m->out_zero_point, c)) {
        return 0;
    }
    for (j = 0; j < m->cols && m->bias != NULL; ++j) {
        /* |b| < limit, as b + limit - 1 in [0, 2 limit - 2] (2 limit - 2 < 2^31) */
        if ((uint32_t)m->bias[j] + (uint32_t)(limit - 1) > (uint32_t)(2 * limit - 2)) {
            return 0;
        }
    }
    *n = -m->shift[0];
    return 1;
}

/* Whether the 4-row path applies (the fast conditions, depth a multiple of 4 up to
 * PR_ARM_MM4_DEPTH). */
static int32_t pr_arm_mm4_ok(const pr_mm *m, int32_t uniform, int32_t *n, int32_t *c)
{
    return m->depth % 4 == 0 && m->depth <= PR_ARM_MM4_DEPTH &&
           pr_arm_fast_ok(m, uniform, n, c);
}

/* Columns j0 .. j0 + nc - 1 of every row, the column terms in g->init. */
static void pr_arm_mm4_rows(const pr_mm *m, pr_arm_mm4 *g, int32_t j0, int32_t nc,
                            int32_t *x)
{
    const int32_t bits = m->y_bytes == 1 ? 8 : 16;
    int64_t i;
    int32_t r;
    for (i = 0; i < m->rows; i += 4) {
        const int32_t nr = m->rows - i < 4 ? (int32_t)(m->rows - i) : 4;
        pr_arm_mm4_expand(m, i, nr, x);
        for (r = 0; r < 4; ++r) {
            g->row_term[r] = r < nr ? pr_arm_zp_sum(m->depth, m->a + (i + r) * m->a_step,
                                                    m->b_zero_point) : 0;
        }
        g->y = (int8_t *)m->y + (i * m->y_step + j0) * m->y_bytes;
        pr_arm_mm4_cols_any(g, j0, nc, nr, bits);
    }
}

/* The fast path; 0 when it does not apply. */
static __attribute__((noinline)) int32_t pr_arm_mm4_nt(const pr_mm *m, int32_t uniform)
{
    int32_t x[2 * PR_ARM_MM4_DEPTH];
    int32_t col[PR_ARM_MM4_COLS];
    const int32_t K = m->depth;
    const uint32_t kzz = (uint32_t)K * (uint32_t)m->a_zero_point * (uint32_t)m->b_zero_point;
    pr_arm_mm4 g;
    int32_t j0, c;
    if (!pr_arm_mm4_ok(m, uniform, &g.n, &g.c)) {
        return 0;
    }
    g.x = x;
    g.groups = K / 4;
    g.b = m->b;
    g.b_step = m->b_step;
    g.mult = m->multiplier;
    g.mult_step = m->per_tensor ? 0 : 1;
    g.y_step = m->y_step;
    if (m->a_zero_point == 0 && m->b_zero_point == 0) {   /* one pass over the columns */
        g.init = m->bias;
        pr_arm_mm4_rows(m, &g, 0, m->cols, x);
        return 1;
    }
    for (j0 = 0; j0 < m->cols; j0 += PR_ARM_MM4_COLS) {
        const int32_t nc = m->cols - j0 < PR_ARM_MM4_COLS ? m->cols - j0 : PR_ARM_MM4_COLS;
        for (c = 0; c < nc; ++c) {
            const int32_t bias = m->bias != NULL ? m->bias[j0 + c] : 0;
            col[c] = (int32_t)((uint32_t)bias + kzz - (uint32_t)pr_arm_zp_sum(
                K, m->b + (int64_t)(j0 + c) * m->b_step, m->a_zero_point));
        }
        g.init = col;
        pr_arm_mm4_rows(m, &g, j0, nc, x);
    }
    return 1;
}

/* ---- few rows: each row straight through its columns, four at a time ---- */

/*
 * With 1 to PR_ARM_MM1_ROWS rows, the 4-row path mostly expands and multiplies idle
 * rows, and the general path's column sums, descriptor walks and general
 * requantization cost as much as the products; so, under the fast conditions
 * (pr_arm_fast_ok) and a depth that is a multiple of 4, each row of A goes through the
 * columns of B four at a time: per 4 depth steps, one word of the row with -za added
 * to its int16 lanes (SXTAB16: a - za in [-255, 255]), then per column one word
 * (SXTB16, SXTB16 ROR #8) and 2 SMLAD: 23 instructions for 16 multiply-accumulates.
 * The zero point of A taken in the lanes, the identity becomes
 *   sum (a - za)(b - zb) = sum (a - za) b - zb sum (a - za)   (mod 2^32),
 * so no column sums: each accumulator starts at bias_j - zb (sum A_i - K za), and the
 * exact result (|x| < 2^30 by pr_arm_fast_ok) is requantized in 4 instructions.
 */
enum { PR_ARM_MM1_ROWS = 3, PR_ARM_MM1_COLS3 = 16 };

/* One group of 4 depth steps of the row (word at a, then a += 4) against the four
 * columns at b, b + 4 + d, b2, b2 + 4 + d (b and b2 then += 4). */
#define PR_ARM_MM1_COLUMN(s, w_load)                                                        \
    w_load                                                                                  \
    "sxtb16  %[we], %[w]\n\t"                                                               \
    "sxtb16  %[w], %[w], ror #8\n\t"                                                        \
    "smlad   %[" #s "], %[xe], %[we], %[" #s "]\n\t"                                        \
    "smlad   %[" #s "], %[x], %[w], %[" #s "]\n\t"

#define PR_ARM_MM1_GROUP                                                                    \
    "ldr     %[x], [%[a]], #4\n\t"                                                          \
    "sxtab16 %[xe], %[off], %[x]\n\t"                                                       \
    "sxtab16 %[x], %[off], %[x], ror #8\n\t"                                                \
    PR_ARM_MM1_COLUMN(s0, "ldr     %[w], [%[b]], #4\n\t")                                   \
    PR_ARM_MM1_COLUMN(s1, "ldr     %[w], [%[b], %[d]]\n\t")                                 \
    PR_ARM_MM1_COLUMN(s2, "ldr     %[w], [%[b2]], #4\n\t")                                  \
    PR_ARM_MM1_COLUMN(s3, "ldr     %[w], [%[b2], %[d]]\n\t")

/* 13 registers (the loop's end is read from memory); gcc 12 allocates them at -O2, -O3
 * and -Os for the M4 and M7 (tools/mcu/build.sh lib). */
#define PR_ARM_MM1_OPERANDS                                                                 \
    : [s0] "+r"(s0), [s1] "+r"(s1), [s2] "+r"(s2), [s3] "+r"(s3), [a] "+r"(x),            \
      [b] "+r"(w0), [b2] "+r"(w2), [x] "=&r"(v), [xe] "=&r"(ve), [w] "=&r"(wv),           \
      [we] "=&r"(we)                                                                        \
    : [d] "r"(d), [off] "r"(off), [end] "m"(end)                                            \
    : "memory", "cc"

/* The operands of the rows: the columns of B and the requantization. */
typedef struct {
    int32_t groups;         /* depth / 4 */
    int32_t cols;
    const int8_t *b;        /* row j of B at b + j * b_step */
    int32_t b_step;
    const int32_t *bias;    /* bias[j] (four zeros when bias is NULL: bias_adv 0) */
    int32_t bias_adv;       /* 4, or 0 */
    const int32_t *mult;    /* mult[j] (four copies when per_tensor: mult_adv 0) */
    int32_t mult_adv;       /* 4, or 0 */
    int32_t off;            /* -za in both int16 lanes */
    int32_t n, c;           /* right shift and pr_arm_fast_c's constant */
} pr_arm_mm1;

/* The four columns b + q step, q = 0, q1, q2, q1 + q2, of the row a (g->groups words,
 * ending at end): y[q] (a repeated column computes and stores the same value twice);
 * t = zb sum_k (a_k - za) (mod 2^32); bits 8 or 16. */
PR_ARM_INLINE void pr_arm_mm1_quad(const pr_arm_mm1 *g, const int8_t *a, const int8_t *end,
                                   uint32_t t, const int8_t *b, const int32_t *bias,
                                   const int32_t *mult, void *y, int32_t q1, int32_t q2,
                                   int32_t bits)
{
    const int32_t q3 = q1 + q2, d = q1 * g->b_step - 4, off = g->off;
    const int32_t n = g->n, c = g->c;   /* locals: the int8 stores may alias *g */
    int32_t s0 = (int32_t)((uint32_t)bias[0] - t);
    int32_t s1 = (int32_t)((uint32_t)bias[q1] - t);
    int32_t s2 = (int32_t)((uint32_t)bias[q2] - t);
    int32_t s3 = (int32_t)((uint32_t)bias[q3] - t);
    const int8_t *x = a, *w0 = b, *w2 = b + (int64_t)q2 * g->b_step;
    int32_t v, ve, wv, we;
    if (g->groups & 1) {
        __asm__ volatile(PR_ARM_MM1_GROUP PR_ARM_MM1_OPERANDS);
    }
    if (x != end) {
        __asm__ volatile("1:\n\t" PR_ARM_MM1_GROUP PR_ARM_MM1_GROUP
                         "ldr     %[w], %[end]\n\t"
                         "cmp     %[a], %[w]\n\t"
                         "bne     1b\n\t" PR_ARM_MM1_OPERANDS);
    }
    s0 = pr_arm_fast_rq(s0, mult[0], n, c);
    s1 = pr_arm_fast_rq(s1, mult[q1], n, c);
    s2 = pr_arm_fast_rq(s2, mult[q2], n, c);
    s3 = pr_arm_fast_rq(s3, mult[q3], n, c);
    PR_ARM_MM4_STORE(y, 0, s0);
    PR_ARM_MM4_STORE(y, q1, s1);
    PR_ARM_MM4_STORE(y, q2, s2);
    PR_ARM_MM4_STORE(y, q3, s3);
}

/* One row: every column, four at a time; the r < 4 columns left at the end as the lanes
 * (0, 0, 0, 0), (0, 1, 0, 1) or (0, 1, 1, 2) (nothing past the last column is read). */
PR_ARM_INLINE void pr_arm_mm1_row(const pr_arm_mm1 *g, const int8_t *a, uint32_t t,
                                  void *y, int32_t bits)
{
    const int8_t *end = a + 4 * g->groups, *b = g->b;
    const int32_t *bias = g->bias, *mult = g->mult;
    const int64_t step4 = 4 * (int64_t)g->b_step;
    const int32_t bias_adv = g->bias_adv, mult_adv = g->mult_adv;
    int32_t r = g->cols;
    uint8_t *yq = (uint8_t *)y;
    for (; r >= 4; r -= 4) {
        pr_arm_mm1_quad(g, a, end, t, b, bias, mult, yq, 1, 2, bits);
        b += step4;
        bias += bias_adv;
        mult += mult_adv;
        yq += 4 * (bits / 8);
    }
    if (r > 0) {
        pr_arm_mm1_quad(g, a, end, t, b, bias, mult, yq, r > 1, r > 2, bits);
    }
}

static __attribute__((noinline)) void pr_arm_mm1_row8(const pr_arm_mm1 *g, const int8_t *a,
                                                      uint32_t t, void *y)
{
    pr_arm_mm1_row(g, a, t, y, 8);
}

static __attribute__((noinline)) void pr_arm_mm1_row16(const pr_arm_mm1 *g,
                                                       const int8_t *a, uint32_t t, void *y)
{
    pr_arm_mm1_row(g, a, t, y, 16);
}

/* The few-rows path; 0 when it does not apply. */
static __attribute__((noinline)) int32_t pr_arm_mm1_nt(const pr_mm *m, int32_t uniform)
{
    int32_t zeros[4] = {0, 0, 0, 0}, mult4[4];
    pr_arm_mm1 g;
    int32_t i;
    if (m->depth % 4 != 0 || !pr_arm_fast_ok(m, uniform, &g.n, &g.c)) {
        return 0;
    }
    g.groups = m->depth / 4;
    g.cols = m->cols;
    g.b = m->b;
    g.b_step = (int32_t)m->b_step;
    g.bias = m->bias != NULL ? m->bias : zeros;
    g.bias_adv = m->bias != NULL ? 4 : 0;
    g.mult = m->multiplier;
    g.mult_adv = 4;
    if (m->per_tensor) {
        mult4[0] = mult4[1] = mult4[2] = mult4[3] = m->multiplier[0];
        g.mult = mult4;
        g.mult_adv = 0;
    }
    g.off = (int32_t)(((uint32_t)-m->a_zero_point & 0xFFFFu) * 0x10001u);
    for (i = 0; i < m->rows; ++i) {
        const int8_t *a = m->a + i * m->a_step;
        /* zb sum (a - za) = zb (sum A_i - K za) (mod 2^32) */
        const uint32_t t = m->b_zero_point == 0 ? 0u :
            (uint32_t)m->b_zero_point * ((uint32_t)pr_arm_sum_s8(m->depth, a) -
                                         (uint32_t)m->depth * (uint32_t)m->a_zero_point);
        void *y = (int8_t *)m->y + i * m->y_step * m->y_bytes;
        if (m->y_bytes == 1) {
            pr_arm_mm1_row8(&g, a, t, y);
        } else {
            pr_arm_mm1_row16(&g, a, t, y);
        }
    }
    return 1;
}

int32_t pr_arm_linear_row(const pr_linear_params *p, const int8_t *x, const int8_t *w,
                          const int32_t *bias, const int32_t *multiplier, int32_t shift,
                          void *y, int32_t bits)
{
    static const int32_t zeros[4] = {0, 0, 0, 0};
    const int32_t K = p->in_features, type_max = bits == 8 ? 127 : 32767;
    /* pr_arm_fast_ok's bound: 2^30 - K 255^2 > 0 iff K <= 16512 */
    const int32_t limit = K <= 16512 ? (1 << 30) - K * 65025 : 0;
    pr_arm_mm1 g;
    int32_t j;
    if ((K & 3) != 0 || limit <= 0 || p->act_min != -type_max - 1 ||
        p->act_max != type_max || !pr_arm_fast_c(shift, p->out_zero_point, &g.c)) {
        return 0;
    }
    for (j = 0; j < p->out_features && bias != NULL; ++j) {
        if ((uint32_t)bias[j] + (uint32_t)(limit - 1) > (uint32_t)(2 * limit - 2)) {
            return 0;
        }
    }
    g.groups = K / 4;
    g.cols = p->out_features;
    g.b = w;
    g.b_step = K;
    g.bias = bias != NULL ? bias : zeros;
    g.bias_adv = bias != NULL ? 4 : 0;
    g.mult = multiplier;
    g.mult_adv = 4;
    g.off = 0;              /* a linear layer's input zero point is 0, as its weights' */
    g.n = -shift;
    if (bits == 8) {        /* a classifier's: the row code inlined (about 1.3 KB) */
        pr_arm_mm1_row(&g, x, 0u, y, 8);
    } else {                /* int16 out: the few-rows path's function, no second copy */
        pr_arm_mm1_row16(&g, x, 0u, y);
    }
    return 1;
}

/* The general path: 2 x 2 blocks of raw sums, then the zero points and requantization. */
static __attribute__((noinline)) void pr_arm_mm_nt_any(const pr_mm *m, int32_t uniform)
{
    const int32_t K = m->depth;
    const int32_t zps = m->a_zero_point != 0 || m->b_zero_point != 0;
    const uint32_t kzz = (uint32_t)K * (uint32_t)m->a_zero_point *
                         (uint32_t)m->b_zero_point;
    int32_t col[PR_ARM_MM_CHUNK];          /* K za zb - za sum B_j */
    int32_t acc[2][PR_ARM_MM_CHUNK];
    int32_t j0, c, r;
    int64_t i;
    for (j0 = 0; j0 < m->cols; j0 += PR_ARM_MM_CHUNK) {
        const int32_t nc = m->cols - j0 < PR_ARM_MM_CHUNK ? m->cols - j0 : PR_ARM_MM_CHUNK;
        for (c = 0; c < nc && zps; ++c) {
            col[c] = (int32_t)(kzz - (uint32_t)pr_arm_zp_sum(
                K, m->b + (int64_t)(j0 + c) * m->b_step, m->a_zero_point));
        }
        for (i = 0; i < m->rows; i += 2) {
            const int32_t rows = i + 1 < m->rows ? 2 : 1;
            pr_arm_mm_tile(m, i, rows == 2, j0, nc, acc);
            for (r = 0; r < rows; ++r) {
                /* sum (a - za)(b - zb) = raw - zb sum A_i + col_j (mod 2^32) */
                const uint32_t row = zps ? (uint32_t)pr_arm_zp_sum(
                    K, m->a + (i + r) * m->a_step, m->b_zero_point) : 0;
                for (c = 0; c < nc && zps; ++c) {
                    acc[r][c] = (int32_t)((uint32_t)acc[r][c] - row + (uint32_t)col[c]);
                }
                pr_arm_mm_requant(m, j0, nc, acc[r], i + r, uniform);
            }
        }
    }
}

void pr_arm_mm_nt_uniform(const pr_mm *m, int32_t uniform)
{
    /* 3 rows: the 4-row path is as fast from PR_ARM_MM1_COLS3 columns up */
    const int32_t few = m->rows < PR_ARM_MM1_ROWS ||
                        (m->rows == PR_ARM_MM1_ROWS && m->cols < PR_ARM_MM1_COLS3);
    if (!(few ? pr_arm_mm1_nt(m, uniform) : pr_arm_mm4_nt(m, uniform))) {
        pr_arm_mm_nt_any(m, uniform);
    }
}

void pr_arm_mm_nt(const pr_mm *m)
{
    pr_arm_mm_nt_uniform(m, pr_arm_mm_uniform_shift(m));
}
