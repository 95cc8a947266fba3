/*
 * pr_softmax_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_softmax_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * A row's keys that may be allowed are [lo, hi) (the window; every key without one);
 * the others are -128. With n = hi - lo:
 * 1. mx = max x over the allowed keys: SMAX over 16 keys at a time (the last 16 keys of
 *    [lo, hi) for the tail, overlapping: a maximum does not mind), SMAXV; with a key
 *    mask, the keys it excludes count as -128, and a row without an allowed key is all
 *    -128 (as in the reference).
 * 2. e_j = exp_table[mx - x_j] (allowed keys; 0 for the others), one table load per key;
 *    S = sum e <= 2^29.
 * 3. q_j = floor((512 e_j + S) / (2 S)), y_j = min(q_j - 128, 127). Rows of 16 keys or
 *    more: 4 keys per vector, without a division: with l = ceil(log2(2 S)) and
 *    m = floor(2^(31 + l) / (2 S)) + 1 < 2^32 (one 64-bit division per row),
 *    q = floor(u m / 2^(31 + l)) for u = 512 e + S < 2^31 (Granlund & Montgomery 1994,
 *    Thm 4.2; the proof is in csrc/x86/pr_softmax_s8_avx512vnni.c), computed as the
 *    high words of UMULL (u m / 2^32, a floor) shifted right by l - 1 (l >= 1: 2 S >= 2);
 *    then q <= 256 narrows with unsigned saturation to a byte (256 -> 255) and an
 *    exclusive or with 0x80 gives q - 128 for q <= 255 and 127 for 256. Shorter rows
 *    (SpeechFormer's windows: 5 allowed keys of 12) divide per key (UDIV), as the
 *    reference does.
 */
#include "pr_a64_common.h"

enum { PR_A64_SM_LONG = 16 };

/* pr_softmax_table_ok (pr_check_internal.h), 4 entries at a time. */
static int pr_a64_softmax_table_ok(const int32_t *exp_table)
{
    uint32x4_t bad = vdupq_n_u32(0);
    int32_t d;
    for (d = 0; d < 256; d += 4) {
        const int32x4_t e = vld1q_s32(exp_table + d);
        bad = vorrq_u32(bad, vorrq_u32(vcltzq_s32(e),
                                       vcgtq_s32(e, vdupq_n_s32(PR_SOFTMAX_EXP_ONE))));
    }
    return exp_table[0] >= 1 && vmaxvq_u32(bad) == 0;
}

/* max x over [lo, hi) (n >= 1 keys), key mask applied; -129 when no key is allowed. */
static int32_t pr_a64_sm_max(const int8_t *x, const uint8_t *key_mask, int32_t lo, int32_t hi)
{
    int32_t j, mx = -129;
    if (key_mask != NULL || hi - lo < 16) {
        for (j = lo; j < hi; ++j) {
            if ((key_mask == NULL || key_mask[j] != 0) && x[j] > mx) {
                mx = x[j];
            }
        }
        return mx;
    }
    {
        int8x16_t m = vld1q_s8(x + hi - 16);
        for (j = lo; j + 16 <= hi; j += 16) {
            m = vmaxq_s8(m, vld1q_s8(x + j));
        }
        return vmaxvq_s8(m);
    }
}

/* e of keys lo .. hi - 1 into e[0 ..), their sum. */
static int32_t pr_a64_sm_exp(const int8_t *x, const int32_t *table, const uint8_t *key_mask,
                             int32_t lo, int32_t hi, int32_t mx, int32_t *e)
{
    int32_t j, S = 0;
    if (key_mask == NULL) {
        for (j = lo; j < hi; ++j) {
            const int32_t v = table[mx - x[j]];
            e[j - lo] = v;
            S += v;
        }
    } else {
        for (j = lo; j < hi; ++j) {
            const int32_t v = key_mask[j] != 0 ? table[mx - x[j]] : 0;
            e[j - lo] = v;
            S += v;
        }
    }
    return S;
}

/* Pass 3 of a long row: y[0 .. n) from e[0 .. n) (n >= 16; the last 16 keys of the row
 * for its tail, overlapping: the same values are written twice). */
static void pr_a64_sm_out(const int32_t *e, int32_t n, int32_t S, int8_t *y)
{
    const uint32_t dv = 2 * (uint32_t)S;                  /* 2 <= dv <= 2^30 */
    const int32_t l = 32 - __builtin_clz(dv - 1);         /* 2^(l-1) < dv <= 2^l */
    const uint32x4_t m = vdupq_n_u32((uint32_t)((((uint64_t)1 << (31 + l)) / dv) + 1));
    const uint32x4_t Sv = vdupq_n_u32((uint32_t)S);
    const int32x4_t sh = vdupq_n_s32(1 - l);
    int32_t j = 0;
    for (;;) {
        uint32x4_t q[4];
        uint16x8_t h0, h1;
        int32_t g;
        if (j + 16 > n) {
            j = n - 16;
        }
        for (g = 0; g < 4; ++g) {   /* q of keys j + 4g .. j + 4g + 3 */
            const uint32x4_t u = vmlaq_n_u32(
                Sv, vld1q_u32((const uint32_t *)(const void *)(e + j + 4 * g)), 512);
            const uint32x4_t hi = vuzp2q_u32(
                vreinterpretq_u32_u64(vmull_u32(vget_low_u32(u), vget_low_u32(m))),
                vreinterpretq_u32_u64(vmull_high_u32(u, m)));        /* floor(u m / 2^32) */
            q[g] = vshlq_u32(hi, sh);
        }
        h0 = vqmovn_high_u32(vqmovn_u32(q[0]), q[1]);
        h1 = vqmovn_high_u32(vqmovn_u32(q[2]), q[3]);
        vst1q_s8(y + j, veorq_s8(vreinterpretq_s8_u8(vqmovn_high_u16(vqmovn_u16(h0), h1)),
                                 vdupq_n_s8(-128)));
        if (j + 16 >= n) {
            return;
        }
        j += 16;
    }
}

/* One row: keys lo .. hi - 1 may be allowed (window), key_mask refines that. */
static void pr_a64_softmax_row(int32_t cols, int32_t lo, int32_t hi, const int8_t *x,
                               const int32_t *table, const uint8_t *key_mask, int8_t *y,
                               int32_t *e)
{
    const int32_t n = hi - lo;
    int32_t j, mx, S;
    if (n < cols || key_mask != NULL) {   /* keys that may not be allowed: -128 first */
        memset(y, -128, (size_t)cols);
    }
    if (n <= 0) {
        return;
    }
    mx = pr_a64_sm_max(x, key_mask, lo, hi);
    if (mx == -129) {                     /* no allowed key: every probability is 0 */
        return;
    }
    S = pr_a64_sm_exp(x, table, key_mask, lo, hi, mx, e);
    if (n >= PR_A64_SM_LONG) {
        pr_a64_sm_out(e, n, S, y + lo);
        return;
    }
    for (j = 0; j < n; ++j) {   /* short rows: the reference's division; e = 0 gives -128 */
        const int32_t q = (512 * e[j] + S) / (2 * S);
        y[lo + j] = (int8_t)(q <= 255 ? q - 128 : 127);
    }
}

pr_status pr_softmax_s8(const pr_softmax_params *p, const int8_t *x,
                        const int32_t *exp_table, const uint8_t *key_mask, int8_t *y)
{
    int32_t e[PR_SOFTMAX_MAX_COLS];
    int64_t h, t;
    const pr_status st = pr_softmax_check_shape(p, x, exp_table, y);
    if (st != PR_OK) {
        return st;
    }
    if (!pr_a64_softmax_table_ok(exp_table)) {
        return PR_ERR_PARAM;
    }
    for (h = 0; h < p->batches; ++h) {
        for (t = 0; t < p->rows; ++t) {
            const int64_t off = (h * p->rows + t) * p->cols;
            int32_t lo, hi;
            pr_softmax_window(p, t, &lo, &hi);
            pr_a64_softmax_row(p->cols, lo, hi, x + off, exp_table,
                               key_mask, y + off, e);
        }
    }
    return PR_OK;
}
