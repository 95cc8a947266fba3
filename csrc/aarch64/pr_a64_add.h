/*
 * Internal: the residual add of the aarch64 variants pr_add_s16_neon.c and
 * pr_add_s16_s8_neon.c (not public API): the checks and the arithmetic of
 * csrc/pr_add_internal.h, 8 elements at a time in two vectors of 4 int32 lanes:
 *   a 2^15 and (b - zb) 2^15 by SSHLL #15 (exact: |a 2^15| <= 2^30, |(b - zb) 2^15| <=
 *   2^23), each input's MBQM, their saturating sum (SQADD), the output's MBQM, SQXTN to
 *   int16 and the clamp (the reference clamps the int32; the range lies inside int16).
 * The MBQM steps are pr_a64_mbqm1's (pr_a64_common.h; every multiplier of an add is
 * >= 0), in the form of each shift's kind: the usual model (one input's shift 0, the
 * other's and the output's right shifts) and every other combination of input kinds
 * with a right output shift have a loop of their own; anything else takes the general
 * per-lane form. The last size mod 8 elements go through zero-padded copies.
 * The including file defines PR_ADD_NAME, PR_ADD_B_T, PR_ADD_B_ZP_MIN / _MAX and
 * PR_ADD_LOAD_B(p, zb): 8 elements of b at p minus zb (int8x8) as int16x8.
 */
#include "pr_a64_common.h"

typedef struct {
    pr_a64_mbqm1_c a, b, out;
    int8x8_t zb;
    int16x8_t lo, hi;
    int32_t full;     /* the clamp range is all of int16 */
} pr_a64_add_c;

/* 8 outputs from 8 a and 8 b - zb (int16 each). */
PR_A64_INLINE int16x8_t pr_a64_add8(const pr_a64_add_c *c, int16x8_t a, int16x8_t b,
                                    int32_t ka, int32_t kb, int32_t ko)
{
    const int32x4_t lo = vqaddq_s32(pr_a64_mbqm1(&c->a, vshll_n_s16(vget_low_s16(a), 15), ka),
                                    pr_a64_mbqm1(&c->b, vshll_n_s16(vget_low_s16(b), 15), kb));
    const int32x4_t hi = vqaddq_s32(pr_a64_mbqm1(&c->a, vshll_high_n_s16(a, 15), ka),
                                    pr_a64_mbqm1(&c->b, vshll_high_n_s16(b, 15), kb));
    int16x8_t y = vqmovn_high_s32(vqmovn_s32(pr_a64_mbqm1(&c->out, lo, ko)),
                                  pr_a64_mbqm1(&c->out, hi, ko));
    if (!c->full) {
        y = vminq_s16(vmaxq_s16(y, c->lo), c->hi);
    }
    return y;
}

PR_A64_INLINE void pr_a64_add_loop(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                                   const PR_ADD_B_T *b, int16_t *y, int32_t ka, int32_t kb,
                                   int32_t ko)
{
    int32_t i;
    for (i = 0; i + 8 <= n; i += 8) {   /* y may alias a or b: loads come first */
        const int16x8_t av = vld1q_s16(a + i);
        const int16x8_t bv = PR_ADD_LOAD_B(b + i, c->zb);
        vst1q_s16(y + i, pr_a64_add8(c, av, bv, ka, kb, ko));
    }
    if (i < n) {                         /* the last 1..7 through zero-padded copies */
        int16_t ta[8] = {0}, ty[8];
        PR_ADD_B_T tb[8] = {0};
        memcpy(ta, a + i, (size_t)(n - i) * sizeof *a);
        memcpy(tb, b + i, (size_t)(n - i) * sizeof *b);
        vst1q_s16(ty, pr_a64_add8(c, vld1q_s16(ta), PR_ADD_LOAD_B(tb, c->zb), ka, kb, ko));
        memcpy(y + i, ty, (size_t)(n - i) * sizeof *y);
    }
}

/* One loop per (input kinds) with a right output shift, and the general one. */
static void pr_a64_add_zr(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                          const PR_ADD_B_T *b, int16_t *y)
{
    pr_a64_add_loop(c, n, a, b, y, PR_A64_E_ZERO, PR_A64_E_RIGHT, PR_A64_E_RIGHT);
}

static void pr_a64_add_rz(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                          const PR_ADD_B_T *b, int16_t *y)
{
    pr_a64_add_loop(c, n, a, b, y, PR_A64_E_RIGHT, PR_A64_E_ZERO, PR_A64_E_RIGHT);
}

static void pr_a64_add_rr(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                          const PR_ADD_B_T *b, int16_t *y)
{
    pr_a64_add_loop(c, n, a, b, y, PR_A64_E_RIGHT, PR_A64_E_RIGHT, PR_A64_E_RIGHT);
}

static void pr_a64_add_zz(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                          const PR_ADD_B_T *b, int16_t *y)
{
    pr_a64_add_loop(c, n, a, b, y, PR_A64_E_ZERO, PR_A64_E_ZERO, PR_A64_E_RIGHT);
}

static void pr_a64_add_any(const pr_a64_add_c *c, int32_t n, const int16_t *a,
                           const PR_ADD_B_T *b, int16_t *y)
{
    pr_a64_add_loop(c, n, a, b, y, -1, -1, -1);
}

pr_status PR_ADD_NAME(const pr_add_params *p, const int16_t *a, const PR_ADD_B_T *b,
                      int16_t *y)
{
    pr_a64_add_c c;
    int32_t ka, kb;
    const pr_status st = pr_add_check(p, a, b, y, PR_ADD_B_ZP_MIN, PR_ADD_B_ZP_MAX);
    if (st != PR_OK) {
        return st;
    }
    c.a = pr_a64_mbqm1_consts(p->a_multiplier, p->a_shift);
    c.b = pr_a64_mbqm1_consts(p->b_multiplier, p->b_shift);
    c.out = pr_a64_mbqm1_consts(p->out_multiplier, p->out_shift);
    c.zb = vdup_n_s8((int8_t)p->b_zero_point);
    c.lo = vdupq_n_s16((int16_t)p->act_min);
    c.hi = vdupq_n_s16((int16_t)p->act_max);
    c.full = p->act_min == -32768 && p->act_max == 32767;
    ka = c.a.kind;
    kb = c.b.kind;
    if (c.out.kind != PR_A64_E_RIGHT || ka == PR_A64_E_LEFT || kb == PR_A64_E_LEFT) {
        pr_a64_add_any(&c, p->size, a, b, y);
    } else if (ka == PR_A64_E_ZERO) {
        (kb == PR_A64_E_ZERO ? pr_a64_add_zz : pr_a64_add_zr)(&c, p->size, a, b, y);
    } else {
        (kb == PR_A64_E_ZERO ? pr_a64_add_rz : pr_a64_add_rr)(&c, p->size, a, b, y);
    }
    return PR_OK;
}
