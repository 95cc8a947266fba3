/*
 * pr_depthwise_conv1d_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_depthwise_conv1d_s8.c (chosen at build time).
 *
 * Four channels c .. c + 3 of one output frame at a time, in four accumulators: per tap,
 * one word of the input row (or of in_zero_point, for a padded tap: exactly the
 * reference's xp) and one of the weights, each split by SXTB16 into lanes (c, c + 2)
 * and (c + 1, c + 3), and four 16 x 16 multiply-accumulates SMLABB / SMLATT, exact
 * (|sum| <= K 2^14). Requantization: when every channel has a right shift (n >= 1), the
 * zero point's constant fits (pr_arm_fast_c) and |bias| + K 2^14 < 2^30, the
 * accumulators start at the bias (no saturation can occur, so this is the reference's
 * saturating add) and the four-instruction form pr_arm_fast_rq applies (its
 * precondition |x| < 2^30 holds), then the clamp; otherwise the reference's saturating
 * bias add and pr_arm_requantize. Channels past the last multiple of 4 take the
 * reference's per-channel sums. The scratch is checked as in the reference but not
 * needed.
 */
#include "pr_arm_common.h"

enum { PR_ARM_DW_CHUNK = 64 };   /* channels whose constants are set up at a time */

typedef struct {
    int32_t fast;                /* pr_arm_fast_rq for every channel of the chunk */
    int32_t mult[PR_ARM_DW_CHUNK];
    int32_t n[PR_ARM_DW_CHUNK];  /* right shift (fast) */
    int32_t c[PR_ARM_DW_CHUNK];  /* pr_arm_fast_c's constant (fast) */
} pr_arm_dw_q;

/* Four depth-wise products of one tap added to s0 .. s3. */
#define PR_ARM_DW_TAP(xv, wv)                                                              \
    do {                                                                                   \
        const int32_t xe_ = pr_arm_even(xv), xo_ = pr_arm_odd(xv);                         \
        const int32_t we_ = pr_arm_even(wv), wo_ = pr_arm_odd(wv);                         \
        s0 = __smlabb(xe_, we_, s0);                                                       \
        s2 = __smlatt(xe_, we_, s2);                                                       \
        s1 = __smlabb(xo_, wo_, s1);                                                       \
        s3 = __smlatt(xo_, wo_, s3);                                                       \
    } while (0)

/* The sums of channels c .. c + 3 of frame t (bias-free, or from `start`). A frame whose
 * taps all lie inside x walks its input column with a pointer; the others check each
 * tap. */
PR_ARM_INLINE void pr_arm_dw_sum4(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                                  int32_t zp_word, int32_t t, int32_t c, const int32_t start[4],
                                  int32_t s[4])
{
    const int32_t C = p->channels, K = p->kernel, first = t - K / 2;
    const int8_t *wk = w + c;
    int32_t s0 = start[0], s1 = start[1], s2 = start[2], s3 = start[3];
    int32_t k;
    if (first >= 0 && first + K <= p->in_len) {
        const int8_t *xk = x + first * C + c;
        for (k = 0; k < K; ++k, xk += C, wk += C) {
            PR_ARM_DW_TAP(pr_arm_load32(xk), pr_arm_load32(wk));
        }
    } else {
        for (k = 0; k < K; ++k, wk += C) {
            const int32_t pos = first + k;
            const int32_t xv = pos >= 0 && pos < p->in_len ? pr_arm_load32(x + pos * C + c)
                                                           : zp_word;
            PR_ARM_DW_TAP(xv, pr_arm_load32(wk));
        }
    }
    s[0] = s0;
    s[1] = s1;
    s[2] = s2;
    s[3] = s3;
}

/* Channels c0 .. c0 + nc - 1 (nc a multiple of 4) of every frame. */
static void pr_arm_dw_chunk(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                            const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *y, int32_t c0, int32_t nc,
                            const pr_arm_dw_q *q)
{
    const int32_t C = p->channels;
    const int32_t zp_word = (int32_t)((uint32_t)(uint8_t)p->in_zero_point * 0x01010101u);
    const int32_t lo = p->act_min, hi = p->act_max, zp = p->out_zero_point;
    int32_t t, c, j, s[4];
    for (t = 0; t < p->in_len; ++t) {
        int8_t *yt = y + (int64_t)t * C + c0;
        for (c = 0; c < nc; c += 4) {
            const int32_t zero[4] = {0, 0, 0, 0};
            const int32_t *start = q->fast && bias != NULL ? bias + c0 + c : zero;
            pr_arm_dw_sum4(p, x, w, zp_word, t, c0 + c, start, s);
            for (j = 0; j < 4; ++j) {
                int32_t v;
                if (q->fast) {
                    v = pr_arm_fast_rq(s[j], q->mult[c + j], q->n[c + j], q->c[c + j]);
                    v = v < lo ? lo : (v > hi ? hi : v);
                } else {
                    const int32_t acc = bias != NULL ? __qadd(s[j], bias[c0 + c + j]) : s[j];
                    v = pr_arm_requantize(acc, multiplier[c0 + c + j], shift[c0 + c + j], zp,
                                          lo, hi);
                }
                yt[c + j] = (int8_t)v;
            }
        }
    }
}

/* The constants of channels c0 .. c0 + nc - 1 and whether the fast form applies. */
static void pr_arm_dw_consts(const pr_dwconv1d_params *p, const int32_t *bias,
                             const int32_t *multiplier, const int32_t *shift, int32_t c0,
                             int32_t nc, pr_arm_dw_q *q)
{
    const int64_t limit = ((int64_t)1 << 30) - (int64_t)p->kernel * 16384;
    int32_t j;
    q->fast = 1;
    for (j = 0; j < nc; ++j) {
        const int64_t b = bias != NULL ? bias[c0 + j] : 0;
        q->mult[j] = multiplier[c0 + j];
        q->n[j] = -shift[c0 + j];
        q->c[j] = 0;
        q->fast &= pr_arm_fast_c(shift[c0 + j], p->out_zero_point, &q->c[j]) &&
                   b < limit && -b < limit;
    }
}

/* The reference's sum and requantization of channel c, every frame. */
static void pr_arm_dw_channel(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                              const int32_t *bias, const int32_t *multiplier,
                              const int32_t *shift, int32_t c, int8_t *y)
{
    const int32_t C = p->channels, K = p->kernel;
    int64_t t;
    int32_t k;
    for (t = 0; t < p->in_len; ++t) {
        int32_t acc = 0;
        for (k = 0; k < K; ++k) {
            const int64_t pos = t + k - K / 2;
            const int32_t xv = pos >= 0 && pos < p->in_len ? x[pos * C + c] : p->in_zero_point;
            acc += xv * w[(int64_t)k * C + c];
        }
        acc = bias != NULL ? __qadd(acc, bias[c]) : acc;
        y[t * C + c] = (int8_t)pr_arm_requantize(acc, multiplier[c], shift[c],
                                                 p->out_zero_point, p->act_min, p->act_max);
    }
}

pr_status pr_depthwise_conv1d_s8(const pr_dwconv1d_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift,
                                 int8_t *y, int32_t *scratch, int64_t scratch_len)
{
    pr_arm_dw_q q;
    int32_t c0, nc;
    const int32_t C4 = p != NULL ? p->channels / 4 * 4 : 0;
    const pr_status st = pr_dwconv1d_check(p, x, w, multiplier, shift, y, scratch,
                                           scratch_len);
    if (st != PR_OK) {
        return st;
    }
    for (c0 = 0; c0 < C4; c0 += PR_ARM_DW_CHUNK) {
        nc = C4 - c0 < PR_ARM_DW_CHUNK ? C4 - c0 : PR_ARM_DW_CHUNK;
        pr_arm_dw_consts(p, bias, multiplier, shift, c0, nc, &q);
        pr_arm_dw_chunk(p, x, w, bias, multiplier, shift, y, c0, nc, &q);
    }
    for (c0 = C4; c0 < p->channels; ++c0) {
        pr_arm_dw_channel(p, x, w, bias, multiplier, shift, c0, y);
    }
    return PR_OK;
}
