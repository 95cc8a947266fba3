/*
 * pr_pitch_frame_s32: one frame's raw pitch from its window of decimated samples (steps
 * 2-6 of pyreparam/quant/qpitch.py): the window minus its mean (floor((2 sum + w) /
 * (2 w))), the autocorrelation R in int64 (|z| <= 2^18, w <= 2^10: |R| <= 2^46), the
 * first lag of lag_min .. lag_max with the largest R, a parabola through its
 * neighbours in Q15 lags, log2 by the log-mel front end's table, the voicing ratio.
 */
#include "pr_pitch_internal.h"

/* round(2^16 log2 v), v >= 1, as pyreparam.quant.qpitch.log2_q16 (the table read
 * modulo 2^17, as the log-mel front end reads it). */
static int64_t pr_pitch_log2_q16(uint32_t v, const int32_t *t)
{
    const uint32_t mask = (1u << 17) - 1u;
    int32_t n = 31, idx, frac;
    int64_t t0, t1;
    uint32_t top;
    while (!(v >> n)) {
        --n;
    }
    top = v << (31 - n);
    idx = (int32_t)((top >> 24) & 127u);
    frac = (int32_t)((top >> 10) & 16383u);
    t0 = (int64_t)((uint32_t)t[idx] & mask);
    t1 = (int64_t)((uint32_t)t[idx + 1] & mask);
    return (int64_t)n * 65536 + t0 + (((t1 - t0) * frac + (1 << 13)) >> 14);
}

/* R[k] = sum_i z[i] z[i + k], z = window - mean, the subtraction on the fly (no copy:
 * the stack stays small on a microcontroller). */
static int64_t pr_pitch_acf(const int32_t *x, int32_t w, int64_t mean, int32_t k)
{
    int64_t acc = 0;
    int32_t i;
    for (i = 0; i + k < w; ++i) {
        acc += (x[i] - mean) * (x[i + k] - mean);
    }
    return acc;
}

pr_status pr_pitch_frame_s32(const pr_pitch_params *p, const int32_t *window, int16_t *out)
{
    int64_t total = 0, mean, R0, prev, r, a, b, c, curve, shift, period, voicing, octaves;
    int32_t i, k, w, best;
    if (p == NULL || window == NULL || out == NULL || p->log2_table == NULL) {
        return PR_ERR_NULL;
    }
    if (pr_pitch_check_params(p) != PR_OK) {
        return PR_ERR_PARAM;
    }
    w = p->width;
    for (i = 0; i < w; ++i) {
        if (window[i] > PR_PITCH_WINDOW_LIMIT || window[i] < -PR_PITCH_WINDOW_LIMIT) {
            return PR_ERR_SHAPE;
        }
        total += window[i];
    }
    mean = pr_pitch_div_floor(2 * total + w, 2 * (int64_t)w);
    R0 = pr_pitch_acf(window, w, mean, 0);
    /* the first lag of lag_min .. lag_max with the largest R, with its neighbours a, c */
    prev = pr_pitch_acf(window, w, mean, p->lag_min - 1);
    best = p->lag_min;
    a = b = c = 0;
    for (k = p->lag_min; k <= p->lag_max + 1; ++k) {
        r = pr_pitch_acf(window, w, mean, k);
        if (k == best + 1) {
            c = r;
        }
        if (k <= p->lag_max && (k == p->lag_min || r > b)) {
            best = k;
            a = prev;
            b = r;
        }
        prev = r;
    }
    curve = a - 2 * b + c;
    shift = 0;
    if (curve < 0) {
        shift = -pr_pitch_div_round((a - c) * ((int64_t)1 << 14), -curve);
        shift = shift > (1 << 14) ? (1 << 14) : (shift < -(1 << 14) ? -(1 << 14) : shift);
    }
    period = ((int64_t)best << PR_PITCH_TAP_BITS) + shift;          /* > 0 */
    voicing = 0;
    if (R0 >= w && b > 0) {
        voicing = pr_pitch_div_round(b * 256, R0);
        voicing = voicing > 256 ? 256 : voicing;
    }
    octaves = p->log2_rate_q16 -
              (pr_pitch_log2_q16((uint32_t)period, p->log2_table) - ((int64_t)15 << 16));
    octaves = (octaves + (1 << 7)) >> 8;
    out[0] = (int16_t)(octaves > 32767 ? 32767 : (octaves < -32768 ? -32768 : octaves));
    out[1] = (int16_t)voicing;
    return PR_OK;
}
