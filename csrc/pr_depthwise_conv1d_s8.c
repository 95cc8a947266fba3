/*
 * pr_depthwise_conv1d_s8: depthwise 1-D convolution of a (T, C) int8 sequence,
 * stride 1, 'same' padding with the input zero point, weights (K, C). NumPy
 * reference: pyreparam.quant.qlinear.depthwise_conv1d_s8.
 */
#include "pr_check_internal.h"

pr_status pr_depthwise_conv1d_s8(const pr_dwconv1d_params *p, const int8_t *x,
                                 const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift,
                                 int8_t *y, int32_t *scratch, int64_t scratch_len)
{
    int64_t t, k;
    int32_t c, C, zp, pad;
    const pr_status st = pr_dwconv1d_check(p, x, w, multiplier, shift, y, scratch,
                                           scratch_len);
    if (st != PR_OK) {
        return st;
    }
    /* locals: the compiler cannot prove that scratch does not alias *p */
    C = p->channels;
    zp = p->in_zero_point;
    pad = p->kernel / 2;
    for (t = 0; t < p->in_len; ++t) {
        int8_t *yt = y + t * C;
        for (c = 0; c < C; ++c) {
            scratch[c] = 0;
        }
        /* acc[c] += xp[t + k, c] w[k, c], contiguous in c; |acc| <= K 2^14 <= 2^29 */
        for (k = 0; k < p->kernel; ++k) {
            const int64_t pos = t + k - pad;
            const int8_t *wk = w + k * C;
            if (pos >= 0 && pos < p->in_len) {
                const int8_t *xk = x + pos * C;
                for (c = 0; c < C; ++c) {
                    scratch[c] += (int32_t)xk[c] * (int32_t)wk[c];
                }
            } else {
                for (c = 0; c < C; ++c) {
                    scratch[c] += zp * (int32_t)wk[c];
                }
            }
        }
        for (c = 0; c < C; ++c) {
            const int32_t acc = bias != NULL ? pr_q_add_sat32(scratch[c], bias[c])
                                             : scratch[c];
            yt[c] = (int8_t)pr_q_requantize(acc, multiplier[c], shift[c],
                                            p->out_zero_point, p->act_min, p->act_max);
        }
    }
    return PR_OK;
}
