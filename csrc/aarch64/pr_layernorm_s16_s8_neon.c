/*
 * pr_layernorm_s16_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_layernorm_s16_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * The steps of the x86 variants (pr_layernorm_s16_s8_avx512vnni.c has the bounds used
 * below) on 4-lane vectors. Rows in blocks of PR_A64_LN_ROWS: first every row's
 * statistics, S1 (SADALP) and S2 (SMULL of int16 squares, each <= 2^30, summed as
 * unsigned pairs into 64-bit lanes, UADALP), V, and inv, k of pr_layernorm_internal.h
 * (scalar, one per row). Then 8 channels at a time, their constants loaded once per
 * block, for each row:
 *   xc = C x - S1                      SMLAL of x by C onto -S1 (|xc| <= 2^28)
 *   z  = RDBP64(xc inv, n), n = 37 - k  as sign(xc) floor((|xc| inv + 2^(n-1)) / 2^n)
 *                                      (UMULL, URSHL by -n, XTN; RDBP rounds half away
 *                                      from zero, symmetric); |z| <= 2^30 + 1, so the
 *                                      reference's sat32 never acts
 *   u  = MBQM(z, m_i, e_i)             pr_a64_mbqm (m_i may be negative); when every
 *                                      shift of the 8 channels is <= -1: SQRDMULH, SSRA
 *                                      #31 (u - [u < 0]) and SRSHL, which cannot wrap
 *                                      since |z m_i| < 2^61 gives |SQRDMULH| <= 2^30
 *   y  = clamp(zp + RDBP(sat32(u + offset_i), 8))
 *                                      SQADD, the RDBP of pr_a64_mbqm's form (SSRA #31
 *                                      and SRSHR #8 when u + offset cannot saturate:
 *                                      every shift <= 0 and |offset| <= 2^30 - 2), SQXTN
 *                                      to int16, SQADD of zp in int16, SQXTN to int8,
 *                                      then the clamp (a saturated value is beyond the
 *                                      int8 range either way, so the clamp gives the
 *                                      reference's end of the range)
 * A row's last C mod 8 channels go through zero-padded copies.
 */
#include "pr_a64_common.h"
#include "pr_layernorm_internal.h"

enum { PR_A64_LN_ROWS = 16 };

/* Per row of a block: S1, inv and -n (the rounding shift n = 37 - k). */
typedef struct {
    int32_t S1[PR_A64_LN_ROWS];
    uint32_t inv[PR_A64_LN_ROWS];   /* <= 2^31; 0 when V = 0 (then z = 0) */
    int32_t neg_n[PR_A64_LN_ROWS];
} pr_a64_ln_rows;

/* S1 = sum x, S2 = sum x^2 of one row of C int16. */
static void pr_a64_ln_sums(const int16_t *x, int32_t C, int64_t *S1, int64_t *S2)
{
    int32x4_t s1 = vdupq_n_s32(0);
    uint64x2_t s2 = vdupq_n_u64(0);
    int32_t i;
    int64_t t1, t2;
    for (i = 0; i + 8 <= C; i += 8) {
        const int16x8_t v = vld1q_s16(x + i);
        s1 = vpadalq_s16(s1, v);
        s2 = vpadalq_u32(s2, vreinterpretq_u32_s32(vmull_s16(vget_low_s16(v), vget_low_s16(v))));
        s2 = vpadalq_u32(s2, vreinterpretq_u32_s32(vmull_high_s16(v, v)));
    }
    t1 = vaddvq_s32(s1);
    t2 = (int64_t)vaddvq_u64(s2);
    for (; i < C; ++i) {
        t1 += x[i];
        t2 += (int64_t)x[i] * x[i];
    }
    *S1 = t1;
    *S2 = t2;
}

static void pr_a64_ln_stats(const pr_layernorm_params *p, const int16_t *x, int32_t nr,
                            pr_a64_ln_rows *st)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        int64_t S1, S2, V, inv = 0;
        int32_t k = 0;
        pr_a64_ln_sums(x + (int64_t)r * C, C, &S1, &S2);
        V = (int64_t)C * S2 - S1 * S1 + p->eps; /* C^2 (var + eps) / s_x^2, < 2^61 */
        if (V > 0) {
            inv = pr_ln_inv_sqrt(V, &k);
        }
        st->S1[r] = (int32_t)S1;
        st->inv[r] = (uint32_t)inv;
        st->neg_n[r] = k - 37;
    }
}

/* The constants of 8 channels. */
typedef struct {
    pr_a64_mbqm_c q[2];
    int32x4_t off[2];
} pr_a64_ln_c;

/* u + offset, rounded by 8 (ties away from zero): `fast` when it cannot saturate. */
PR_A64_INLINE int32x4_t pr_a64_ln_v(const pr_a64_mbqm_c *q, int32x4_t off, int32x4_t z,
                                    int32_t fast)
{
    int32x4_t u, t;
    const int32x4_t neg8 = vdupq_n_s32(-PR_LAYERNORM_OUT_FRAC_BITS);
    if (fast) {   /* every shift <= -1: |u| <= 2^30, |offset| <= 2^30 - 2 */
        u = pr_a64_rdbp_right(vqrdmulhq_s32(z, q->mult), q->neg_right);
        t = vaddq_s32(u, off);
        return pr_a64_rdbp_right(t, neg8);
    }
    u = pr_a64_mbqm(q, z, 1);
    t = vqaddq_s32(u, off);
    return pr_a64_rdbp(t, neg8);
}

/* The 8 outputs of row r from its 8 inputs. */
PR_A64_INLINE int8x8_t pr_a64_ln8(const pr_layernorm_params *p, const pr_a64_ln_rows *st,
                                  int32_t r, const pr_a64_ln_c *c, int16x8_t x, int32_t fast)
{
    const int16_t C = (int16_t)p->channels;
    const int32x4_t neg_s1 = vdupq_n_s32(-st->S1[r]);
    const uint32x2_t inv = vdup_n_u32(st->inv[r]);
    const int64x2_t neg_n = vdupq_n_s64(st->neg_n[r]);
    const int32x4_t z0 = pr_a64_rdbp64_mul(vmlal_n_s16(neg_s1, vget_low_s16(x), C), inv, neg_n);
    const int32x4_t z1 = pr_a64_rdbp64_mul(vmlal_high_n_s16(neg_s1, x, C), inv, neg_n);
    const int16x8_t v = vqmovn_high_s32(vqmovn_s32(pr_a64_ln_v(&c->q[0], c->off[0], z0, fast)),
                                        pr_a64_ln_v(&c->q[1], c->off[1], z1, fast));
    const int8x8_t y = vqmovn_s16(vqaddq_s16(v, vdupq_n_s16((int16_t)p->out_zero_point)));
    return vmin_s8(vmax_s8(y, vdup_n_s8((int8_t)p->act_min)), vdup_n_s8((int8_t)p->act_max));
}

/* Channels c0 .. c0 + 7 of rows 0 .. nr - 1; fewer than 8 left: n of them, via copies. */
PR_A64_INLINE void pr_a64_ln_lanes(const pr_layernorm_params *p, const int16_t *x, int8_t *y,
                                   int32_t nr, const pr_a64_ln_rows *st, int32_t c0,
                                   int32_t n, const pr_a64_ln_c *c, int32_t fast)
{
    const int32_t C = p->channels;
    int32_t r;
    for (r = 0; r < nr; ++r) {
        const int16_t *xr = x + (int64_t)r * C + c0;
        int8_t *yr = y + (int64_t)r * C + c0;
        if (n == 8) {
            vst1_s8(yr, pr_a64_ln8(p, st, r, c, vld1q_s16(xr), fast));
        } else {
            int16_t tx[8] = {0};
            int8_t ty[8];
            memcpy(tx, xr, (size_t)n * sizeof *tx);
            vst1_s8(ty, pr_a64_ln8(p, st, r, c, vld1q_s16(tx), fast));
            memcpy(yr, ty, (size_t)n);
        }
    }
}

static void pr_a64_ln_fast(const pr_layernorm_params *p, const int16_t *x, int8_t *y,
                           int32_t nr, const pr_a64_ln_rows *st, int32_t c0, int32_t n,
                           const pr_a64_ln_c *c)
{
    pr_a64_ln_lanes(p, x, y, nr, st, c0, n, c, 1);
}

/* Channels c0 .. c0 + 7 (fewer at the end of a row) of rows 0 .. nr - 1. */
static void pr_a64_ln_channels(const pr_layernorm_params *p, const int16_t *x,
                               const int32_t *multiplier, const int32_t *shift,
                               const int32_t *offset, int8_t *y, int32_t nr,
                               const pr_a64_ln_rows *st, int32_t c0)
{
    const int32_t n = p->channels - c0 < 8 ? p->channels - c0 : 8;
    int32_t m8[8] = {0}, e8[8] = {-1, -1, -1, -1, -1, -1, -1, -1}, o8[8] = {0};
    int32_t i, fast = 1;
    pr_a64_ln_c c;
    memcpy(m8, multiplier + c0, (size_t)n * sizeof *m8);
    memcpy(e8, shift + c0, (size_t)n * sizeof *e8);
    memcpy(o8, offset + c0, (size_t)n * sizeof *o8);
    for (i = 0; i < 8; ++i) {
        fast &= e8[i] <= -1 && o8[i] <= (1 << 30) - 2 && o8[i] >= -((1 << 30) - 2);
    }
    for (i = 0; i < 2; ++i) {
        c.q[i] = pr_a64_mbqm_consts(vld1q_s32(m8 + 4 * i), vld1q_s32(e8 + 4 * i));
        c.off[i] = vld1q_s32(o8 + 4 * i);
    }
    if (fast) {
        pr_a64_ln_fast(p, x, y, nr, st, c0, n, &c);
    } else {
        pr_a64_ln_lanes(p, x, y, nr, st, c0, n, &c, 0);
    }
}

pr_status pr_layernorm_s16_s8(const pr_layernorm_params *p, const int16_t *x,
                              const int32_t *multiplier, const int32_t *shift,
                              const int32_t *offset, int8_t *y)
{
    pr_a64_ln_rows st;
    int64_t t;
    int32_t i;
    const pr_status status = pr_layernorm_check(p, x, multiplier, shift, offset, y);
    if (status != PR_OK) {
        return status;
    }
    for (t = 0; t < p->rows; t += PR_A64_LN_ROWS) {
        const int32_t nr = p->rows - t < PR_A64_LN_ROWS ? (int32_t)(p->rows - t)
                                                        : PR_A64_LN_ROWS;
        const int64_t o = t * p->channels;
        pr_a64_ln_stats(p, x + o, nr, &st);
        for (i = 0; i < p->channels; i += 8) {
            pr_a64_ln_channels(p, x + o, multiplier, shift, offset, y + o, nr, &st, i);
        }
    }
    return PR_OK;
}
