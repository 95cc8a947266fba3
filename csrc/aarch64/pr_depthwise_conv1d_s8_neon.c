/*
 * pr_depthwise_conv1d_s8, aarch64 NEON variant: same prototype, checks and results as
 * csrc/pr_depthwise_conv1d_s8.c (chosen at build time by csrc/build_ffi.py).
 *
 * 16 channels in the lanes; per output frame the taps in pairs: SMULL + SMLAL of the
 * int8 inputs and weights sum two products per int16 lane, exact when no weight is -128
 * (|x w| <= 128 x 127, twice 32,512 < 2^15: the weights are scanned once per call; with a
 * -128 each product is widened on its own), then SADDW into the int32 accumulators
 * (|sum| <= K 2^14 <= 2^29). A padded tap reads a row of in_zero_point instead of x,
 * exactly the reference's xp. Then bias (SQADD), MBQM per channel (pr_a64_mbqm), the
 * zero point, saturating narrowing and the clamp, as in the product (pr_a64_mm_impl.h).
 * Channels past the last multiple of 16 take the reference's sums.
 */
#include "pr_a64_common.h"

typedef struct {
    pr_a64_mbqm_c q[4];
    int32x4_t bias[4];
    int32_t left;
} pr_a64_dw_c;

/* Input row of tap k for frame t at channel c0: x, or the padding row. */
PR_A64_INLINE const int8_t *pr_a64_dw_row(const pr_dwconv1d_params *p, const int8_t *x,
                                          const int8_t *pad_row, int64_t t, int32_t k,
                                          int32_t c0)
{
    const int64_t pos = t + k - p->kernel / 2;
    return pos >= 0 && pos < p->in_len ? x + pos * p->channels + c0 : pad_row;
}

/* Frame t, channels c0 .. c0 + 15. */
PR_A64_INLINE void pr_a64_dw16(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                               const pr_a64_dw_c *c, const int8_t *pad_row, int64_t t,
                               int32_t c0, int8_t *y, int32_t exact)
{
    const int32_t C = p->channels, K = p->kernel;
    int32x4_t acc[4] = {vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0), vdupq_n_s32(0)};
    int16x8_t lo, hi;
    int8x16_t y16;
    int32_t k, i;
    for (k = 0; k < K; ++k) {
        const int8x16_t x0 = vld1q_s8(pr_a64_dw_row(p, x, pad_row, t, k, c0));
        const int8x16_t w0 = vld1q_s8(w + (int64_t)k * C + c0);
        lo = vmull_s8(vget_low_s8(x0), vget_low_s8(w0));
        hi = vmull_high_s8(x0, w0);
        if (!exact && k + 1 < K) {   /* the next tap into the same int16 lanes */
            const int8x16_t x1 = vld1q_s8(pr_a64_dw_row(p, x, pad_row, t, k + 1, c0));
            const int8x16_t w1 = vld1q_s8(w + (int64_t)(k + 1) * C + c0);
            lo = vmlal_s8(lo, vget_low_s8(x1), vget_low_s8(w1));
            hi = vmlal_high_s8(hi, x1, w1);
            ++k;
        }
        acc[0] = vaddw_s16(acc[0], vget_low_s16(lo));
        acc[1] = vaddw_high_s16(acc[1], lo);
        acc[2] = vaddw_s16(acc[2], vget_low_s16(hi));
        acc[3] = vaddw_high_s16(acc[3], hi);
    }
    for (i = 0; i < 4; ++i) {
        acc[i] = vqaddq_s32(pr_a64_mbqm(&c->q[i], vqaddq_s32(acc[i], c->bias[i]), c->left),
                            vdupq_n_s32(p->out_zero_point));
    }
    y16 = vqmovn_high_s16(vqmovn_s16(vqmovn_high_s32(vqmovn_s32(acc[0]), acc[1])),
                          vqmovn_high_s32(vqmovn_s32(acc[2]), acc[3]));
    y16 = vminq_s8(vmaxq_s8(y16, vdupq_n_s8((int8_t)p->act_min)),
                   vdupq_n_s8((int8_t)p->act_max));
    vst1q_s8(y + t * C + c0, y16);
}

static void pr_a64_dw_fast(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                           const pr_a64_dw_c *c, const int8_t *pad_row, int32_t c0, int8_t *y)
{
    int64_t t;
    for (t = 0; t < p->in_len; ++t) {
        pr_a64_dw16(p, x, w, c, pad_row, t, c0, y, 0);
    }
}

static void pr_a64_dw_exact(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
                            const pr_a64_dw_c *c, const int8_t *pad_row, int32_t c0,
                            int8_t *y)
{
    int64_t t;
    for (t = 0; t < p->in_len; ++t) {
        pr_a64_dw16(p, x, w, c, pad_row, t, c0, y, 1);
    }
}

/* The reference's sum and requantization of channel c, every frame. */
static void pr_a64_dw_channel(const pr_dwconv1d_params *p, const int8_t *x, const int8_t *w,
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
        acc = bias != NULL ? pr_q_add_sat32(acc, bias[c]) : acc;
        y[t * C + c] = (int8_t)pr_q_requantize(acc, multiplier[c], shift[c],
                                               p->out_zero_point, p->act_min, p->act_max);
    }
}

pr_status pr_depthwise_conv1d_s8(const pr_dwconv1d_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift,
                                 int8_t *y, int32_t *scratch, int64_t scratch_len)
{
    int8_t pad_row[16];
    int8x16_t lowest = vdupq_n_s8(127);
    int64_t i, n;
    int32_t c0, g, exact;
    const pr_status st = pr_dwconv1d_check(p, x, w, multiplier, shift, y, scratch,
                                           scratch_len);
    if (st != PR_OK) {
        return st;
    }
    n = (int64_t)p->kernel * p->channels;
    for (i = 0; i + 16 <= n; i += 16) {
        lowest = vminq_s8(lowest, vld1q_s8(w + i));
    }
    exact = vminvq_s8(lowest) == -128;
    for (; i < n; ++i) {
        exact |= w[i] == -128;
    }
    memset(pad_row, p->in_zero_point, sizeof pad_row);
    for (c0 = 0; c0 + 16 <= p->channels; c0 += 16) {
        pr_a64_dw_c c;
        c.left = 0;
        for (g = 0; g < 4; ++g) {
            const int32x4_t e = vld1q_s32(shift + c0 + 4 * g);
            c.q[g] = pr_a64_mbqm_consts(vld1q_s32(multiplier + c0 + 4 * g), e);
            c.bias[g] = bias != NULL ? vld1q_s32(bias + c0 + 4 * g) : vdupq_n_s32(0);
            c.left |= vmaxvq_s32(e) > 0;
        }
        if (exact) {
            pr_a64_dw_exact(p, x, w, &c, pad_row, c0, y);
        } else {
            pr_a64_dw_fast(p, x, w, &c, pad_row, c0, y);
        }
    }
    for (; c0 < p->channels; ++c0) {
        pr_a64_dw_channel(p, x, w, bias, multiplier, shift, c0, y);
    }
    return PR_OK;
}
