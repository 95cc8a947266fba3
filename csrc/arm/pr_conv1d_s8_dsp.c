/*
 * pr_conv1d_s8, Arm DSP variant: same prototype, checks and results as
 * csrc/pr_conv1d_s8.c (chosen at build time). The output frames whose window lies
 * inside x are the rows of one product (pr_arm_mm_dsp.c; rows overlap when stride <
 * kernel); the few frames with padded taps are summed tap by tap as in the reference.
 */
#include "pr_arm_common.h"

/* Output frame t when its window has padded frames: the reference's sum per tap. */
static void pr_arm_conv1d_edge_frame(const pr_conv1d_params *p, const int8_t *x,
                                     const int8_t *w, const int32_t *bias,
                                     const int32_t *multiplier, const int32_t *shift,
                                     int8_t *y, int64_t t)
{
    const int32_t K = p->kernel;
    const int32_t Cin = p->in_channels;
    const int64_t start = t * p->stride - p->padding;
    int32_t c, k;
    for (c = 0; c < p->out_channels; ++c) {
        const int8_t *wc = w + (int64_t)c * K * Cin;
        int32_t acc = 0;
        for (k = 0; k < K; ++k) {
            const int64_t pos = start + k;
            const int8_t *wk = wc + (int64_t)k * Cin;
            if (pos >= 0 && pos < p->in_len) {
                acc += pr_arm_dot_1x1(Cin, x + pos * Cin, wk);
            } else {   /* a padded frame: in_zero_point times the tap's weights */
                acc += p->in_zero_point * pr_arm_sum_s8(Cin, wk);
            }
        }
        acc = bias != NULL ? __qadd(acc, bias[c]) : acc;   /* sat32 */
        y[t * p->out_channels + c] = (int8_t)pr_arm_requantize(
            acc, multiplier[c], shift[c], p->out_zero_point, p->act_min, p->act_max);
    }
}

pr_status pr_conv1d_s8(const pr_conv1d_params *p, const int8_t *x, const int8_t *w,
                       const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y)
{
    int64_t T_out, t_lo, t_hi, t;
    pr_mm m;
    const pr_status st = pr_conv1d_check(p, x, w, multiplier, shift, y, &T_out);
    if (st != PR_OK) {
        return st;
    }
    pr_conv1d_interior(p, T_out, &t_lo, &t_hi);
    for (t = 0; t < T_out; ++t) {
        if (t < t_lo || t >= t_hi) {
            pr_arm_conv1d_edge_frame(p, x, w, bias, multiplier, shift, y, t);
        }
    }
    if (t_hi > t_lo) {
        m = pr_mm_conv1d(p, x, w, bias, multiplier, shift, y, t_lo, t_hi);
        pr_arm_mm_nt(&m);
    }
    return PR_OK;
}
