/*
 * pr_pitch_fill_s16: log2 F0 of the unvoiced frames from the voiced frames around them
 * (step 7 of pyreparam/quant/qpitch.py), in place.
 */
#include "pr_pitch_internal.h"

pr_status pr_pitch_fill_s16(int16_t *frames, int32_t T, int32_t stride, int32_t col)
{
    int32_t t, a = -1, b;
    if (frames == NULL && T != 0) {
        return PR_ERR_NULL;
    }
    if (T < 0 || col < 0 || stride < 2 || col > stride - 2) {
        return PR_ERR_SHAPE;
    }
    for (t = 0; t < T; ++t) {              /* a: the first voiced frame */
        if (frames[(int64_t)t * stride + col + 1] >= PR_PITCH_VOICED_Q8) {
            a = t;
            break;
        }
    }
    if (a < 0) {
        for (t = 0; t < T; ++t) {
            frames[(int64_t)t * stride + col] = 0;
        }
        return PR_OK;
    }
    for (t = 0; t < a; ++t) {              /* held before the first voiced frame */
        frames[(int64_t)t * stride + col] = frames[(int64_t)a * stride + col];
    }
    while (a < T) {
        const int64_t va = frames[(int64_t)a * stride + col];
        for (b = a + 1; b < T && frames[(int64_t)b * stride + col + 1] < PR_PITCH_VOICED_Q8; ++b) {
        }
        if (b == T) {                      /* held after the last voiced frame */
            for (t = a + 1; t < T; ++t) {
                frames[(int64_t)t * stride + col] = (int16_t)va;
            }
            break;
        }
        for (t = a + 1; t < b; ++t) {
            const int64_t vb = frames[(int64_t)b * stride + col];
            frames[(int64_t)t * stride + col] =
                (int16_t)(va + pr_pitch_div_round((vb - va) * (t - a), b - a));
        }
        a = b;
    }
    return PR_OK;
}
