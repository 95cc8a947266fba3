/*
 * pr_mul_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_mul_s8.c (chosen at build time by csrc/build_ffi.py). 16 elements at a time:
 * a - za and b - zb exact in int16 (SSUBL), their products in int32 (SMULL, |.| <=
 * 255^2), MBQM by pr_a64_mbqm1 (the multiplier is >= 0; a loop for a right shift, the
 * usual case, and one for any shift), SQXTN to int16, the zero point (SQADD), SQXTN to
 * int8 and the clamp: a value saturated on the way is beyond the int8 range either way,
 * so the clamp gives the reference's end of the range. The last size mod 16 elements go
 * through zero-padded copies.
 */
#include "pr_a64_common.h"

typedef struct {
    pr_a64_mbqm1_c q;
    int8x8_t za, zb;
    int16x8_t zp;
    int8x16_t lo, hi;
} pr_a64_mul_c;

PR_A64_INLINE int16x8_t pr_a64_mul8(const pr_a64_mul_c *c, int16x8_t a, int16x8_t b,
                                    int32_t kind)
{
    const int32x4_t lo = pr_a64_mbqm1(&c->q, vmull_s16(vget_low_s16(a), vget_low_s16(b)),
                                      kind);
    const int32x4_t hi = pr_a64_mbqm1(&c->q, vmull_high_s16(a, b), kind);
    return vqaddq_s16(vqmovn_high_s32(vqmovn_s32(lo), hi), c->zp);
}

PR_A64_INLINE int8x16_t pr_a64_mul16(const pr_a64_mul_c *c, int8x16_t a, int8x16_t b,
                                     int32_t kind)
{
    const int16x8_t y0 = pr_a64_mul8(c, vsubl_s8(vget_low_s8(a), c->za),
                                     vsubl_s8(vget_low_s8(b), c->zb), kind);
    const int16x8_t y1 = pr_a64_mul8(c, vsubl_s8(vget_high_s8(a), c->za),
                                     vsubl_s8(vget_high_s8(b), c->zb), kind);
    return vminq_s8(vmaxq_s8(vqmovn_high_s16(vqmovn_s16(y0), y1), c->lo), c->hi);
}

PR_A64_INLINE void pr_a64_mul_loop(const pr_a64_mul_c *c, int32_t n, const int8_t *a,
                                   const int8_t *b, int8_t *y, int32_t kind)
{
    int32_t i;
    for (i = 0; i + 16 <= n; i += 16) {   /* y may alias a or b: the loads come first */
        vst1q_s8(y + i, pr_a64_mul16(c, vld1q_s8(a + i), vld1q_s8(b + i), kind));
    }
    if (i < n) {
        int8_t ta[16] = {0}, tb[16] = {0}, ty[16];
        memcpy(ta, a + i, (size_t)(n - i));
        memcpy(tb, b + i, (size_t)(n - i));
        vst1q_s8(ty, pr_a64_mul16(c, vld1q_s8(ta), vld1q_s8(tb), kind));
        memcpy(y + i, ty, (size_t)(n - i));
    }
}

static void pr_a64_mul_right(const pr_a64_mul_c *c, int32_t n, const int8_t *a,
                             const int8_t *b, int8_t *y)
{
    pr_a64_mul_loop(c, n, a, b, y, PR_A64_E_RIGHT);
}

static void pr_a64_mul_any(const pr_a64_mul_c *c, int32_t n, const int8_t *a,
                           const int8_t *b, int8_t *y)
{
    pr_a64_mul_loop(c, n, a, b, y, -1);
}

pr_status pr_mul_s8(const pr_mul_params *p, const int8_t *a, const int8_t *b, int8_t *y)
{
    pr_a64_mul_c c;
    const pr_status st = pr_mul_check(p, a, b, y);
    if (st != PR_OK) {
        return st;
    }
    c.q = pr_a64_mbqm1_consts(p->multiplier, p->shift);
    c.za = vdup_n_s8((int8_t)p->a_zero_point);
    c.zb = vdup_n_s8((int8_t)p->b_zero_point);
    c.zp = vdupq_n_s16((int16_t)p->out_zero_point);
    c.lo = vdupq_n_s8((int8_t)p->act_min);
    c.hi = vdupq_n_s8((int8_t)p->act_max);
    if (c.q.kind == PR_A64_E_RIGHT) {
        pr_a64_mul_right(&c, p->size, a, b, y);
    } else {
        pr_a64_mul_any(&c, p->size, a, b, y);
    }
    return PR_OK;
}
