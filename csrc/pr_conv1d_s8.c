/*
 * pr_conv1d_s8: 1-D convolution over time of a (T, Cin) int8 sequence, stride and
 * zero padding with the input zero point, per-channel requantization. NumPy
 * reference: pyreparam.quant.qlinear.conv1d_s8.
 */
#include "pr_check_internal.h"

/* zp * sum_i w[i]: the contribution of one padded frame (x = zp everywhere). */
static int32_t pr_conv1d_pad_tap(int32_t n, const int8_t *w, int32_t zp)
{
    int32_t sum = 0;
    int32_t i;
    for (i = 0; i < n; ++i) {
        sum += w[i];
    }
    return zp * sum;
}

/* bias-free accumulator of output frame `start` (first input frame, may be < 0). */
static int32_t pr_conv1d_acc(const pr_conv1d_params *p, const int8_t *x,
                             const int8_t *wc, int64_t start)
{
    const int32_t K = p->kernel;
    const int32_t Cin = p->in_channels;
    int32_t acc = 0;
    int32_t k;
    if (start >= 0 && start + K <= p->in_len) { /* inside: one contiguous dot */
        return pr_q_dot_s8(K * Cin, x + start * Cin, wc);
    }
    for (k = 0; k < K; ++k) {
        const int64_t pos = start + k;
        if (pos >= 0 && pos < p->in_len) {
            acc += pr_q_dot_s8(Cin, x + pos * Cin, wc + (int64_t)k * Cin);
        } else {
            acc += pr_conv1d_pad_tap(Cin, wc + (int64_t)k * Cin, p->in_zero_point);
        }
    }
    return acc;
}

pr_status pr_conv1d_s8(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y)
{
    int64_t t, c, T_out, depth;
    const pr_status st = pr_conv1d_check(p, x, w, multiplier, shift, y, &T_out);
    if (st != PR_OK) {
        return st;
    }
    depth = (int64_t)p->kernel * p->in_channels;
    for (t = 0; t < T_out; ++t) {
        const int64_t start = t * p->stride - p->padding;
        int8_t *yt = y + t * p->out_channels;
        for (c = 0; c < p->out_channels; ++c) {
            const int32_t dot = pr_conv1d_acc(p, x, w + c * depth, start);
            const int32_t acc = bias != NULL ? pr_q_add_sat32(dot, bias[c]) : dot;
            yt[c] = (int8_t)pr_q_requantize(acc, multiplier[c], shift[c],
                                            p->out_zero_point, p->act_min, p->act_max);
        }
    }
    return PR_OK;
}
