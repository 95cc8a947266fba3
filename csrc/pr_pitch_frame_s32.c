/*
 * pr_pitch_frame_s32: one frame's raw pitch from its window of decimated samples (steps
 * 2-6 of pyreparam/quant/qpitch.py): the window minus its mean (floor((2 sum + w) /
 * (2 w))), the autocorrelation R in int64 (|z| <= 2^18, w <= 2^10: |R| <= 2^46; the
 * mean taken out of the products exactly, see pr_pitch_acf), the
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

/* p[0] = sum_{i < w - k} x[i] x[i + k] and p[1] = the same at lag k + 1, in one pass
 * (each x[i] loaded once for both): int32 operands, int64 products (one
 * multiply-accumulate instruction on Cortex-M3/M4/M7: |x| <= 2^17, so each product
 * fits 2^34). 1 <= k + 1 < w. */
static void pr_pitch_lag_products(const int32_t *x, int32_t w, int32_t k, int64_t *p)
{
    int64_t acc0 = 0, acc1 = 0;
    int32_t i;
    for (i = 0; i + k + 1 < w; ++i) {
        const int64_t xi = x[i];
        acc0 += xi * x[i + k];
        acc1 += xi * x[i + k + 1];
    }
    p[0] = acc0 + (int64_t)x[w - 1 - k] * x[w - 1];
    p[1] = acc1;
}

/* R[k] = sum_i z[i] z[i + k], z = x - m, from sum x[i] x[i + k] without a copy of z (the
 * stack stays small on a microcontroller) and with the mean out of the inner loop:
 * expanded exactly,
 *   R[k] = sum x[i] x[i + k] - m (head + tail) + (w - k) m^2,
 * head = sum_{i < w - k} x[i], tail = sum_{i >= k} x[i] (integers, every term exact in
 * int64: |products| <= 2^44, |m (head + tail)| <= 2^45, (w - k) m^2 <= 2^44). */
static int64_t pr_pitch_acf(int64_t products, int32_t w, int64_t m, int32_t k, int64_t head,
                            int64_t tail)
{
    return products - m * (head + tail) + (int64_t)(w - k) * m * m;
}

pr_status pr_pitch_frame_s32(const pr_pitch_params *p, const int32_t *window, int16_t *out)
{
    int64_t total = 0, mean, R0, prev, r, a, b, c, curve, shift, period, voicing, octaves;
    int64_t head, tail, pair[2];
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
    pr_pitch_lag_products(window, w, 0, pair);
    R0 = pr_pitch_acf(pair[0], w, mean, 0, total, total);
    /* head: the sum of x[0 .. w - k), tail: of x[k .. w), kept for the lag k */
    head = total;
    tail = total;
    for (i = 0; i < p->lag_min - 1; ++i) {
        head -= window[w - 1 - i];
        tail -= window[i];
    }
    /* the first lag of lag_min .. lag_max with the largest R, with its neighbours a, c;
     * the lags lag_min - 1 .. lag_max + 1 (<= w - 1) in pairs */
    best = p->lag_min;
    prev = a = b = c = 0;
    for (k = p->lag_min - 1; k <= p->lag_max + 1; ++k) {
        if ((k - (p->lag_min - 1)) % 2 == 0) {
            pr_pitch_lag_products(window, w, k < w - 1 ? k : w - 2, pair);
            if (k == w - 1) {
                pair[0] = pair[1];                  /* a last lone lag w - 1 */
            }
        }
        if (k >= p->lag_min) {
            head -= window[w - k];
            tail -= window[k - 1];
        }
        r = pr_pitch_acf(pair[(k - (p->lag_min - 1)) % 2], w, mean, k, head, tail);
        if (k == best + 1) {
            c = r;
        }
        if (k >= p->lag_min && k <= p->lag_max && (k == p->lag_min || r > b)) {
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
