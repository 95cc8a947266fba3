/*
 * pr_pitch_decimate_s16: int16 PCM -> the int32 signal at 1 / d of its rate, by the Q15
 * filter of scipy's resample_poly (step 1 of pyreparam/quant/qpitch.py). The sum of
 * |taps| is below 2^16, so each sum fits int32 (summed as unsigned words: taps out of
 * that range give a wrong value, never undefined behaviour).
 */
#include "pr_pitch_internal.h"

pr_status pr_pitch_decimate_s16(const pr_pitch_params *p, const int16_t *s, int32_t n,
                                int32_t j0, int32_t count, int32_t *y)
{
    int32_t i, k, n_taps, half;
    if (p == NULL || y == NULL || p->taps == NULL || (s == NULL && n != 0)) {
        return PR_ERR_NULL;
    }
    if (n < 0 || count < 0) {
        return PR_ERR_SHAPE;
    }
    if (p->factor < 2 || p->factor > PR_PITCH_MAX_FACTOR) {
        return PR_ERR_PARAM;
    }
    n_taps = 20 * p->factor + 1;
    half = 10 * p->factor;
    for (i = 0; i < count; ++i) {
        const int64_t centre = (int64_t)p->factor * ((int64_t)j0 + i) + half;  /* k = 0 */
        /* int16 x int16 products summed modulo 2^32: exact for the filter's taps (sum
         * |taps| < 2^16, so |sum| < 2^31), defined behaviour for any others */
        uint32_t acc = 0;
        if (centre - (n_taps - 1) >= 0 && centre < n) {     /* inside: no bounds */
            const int16_t *x = s + centre;
            for (k = 0; k < n_taps; ++k) {
                acc += (uint32_t)((int32_t)p->taps[k] * x[-k]);
            }
        } else {                                            /* taps over the signal */
            const int64_t k_lo = centre - (n - 1) > 0 ? centre - (n - 1) : 0;
            const int64_t k_hi = centre + 1 < n_taps ? centre + 1 : n_taps;
            for (k = (int32_t)(k_lo < n_taps ? k_lo : n_taps); k < k_hi; ++k) {
                acc += (uint32_t)((int32_t)p->taps[k] * s[centre - k]);
            }
        }
        y[i] = (int32_t)(((int64_t)pr_pitch_i32_u(acc) + (1 << (PR_PITCH_TAP_BITS - 1))) >>
                         PR_PITCH_TAP_BITS);
    }
    return PR_OK;
}
