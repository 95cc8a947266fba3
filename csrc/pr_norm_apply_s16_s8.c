/*
 * pr_norm_apply_s16_s8: normalize one utterance with the causal state blended with the
 * training prior and quantize it to the model's int8 input. NumPy reference:
 * pyreparam.quant.qcausal.apply; steps in reference/causal_norm.md (the arithmetic is
 * pr_norm_internal.h's, shared with the stream's per-frame normalization).
 */
#include "pr_norm_internal.h"

static pr_status pr_na_check(const pr_norm_params *p, const int32_t *prior_mean,
                             const int32_t *prior_var, const int16_t *x, int32_t frames,
                             const int8_t *y)
{
    if (p == NULL || prior_mean == NULL || prior_var == NULL || x == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->bands < 1 || p->bands > PR_NORM_MAX_BANDS || frames < 1 ||
        frames > PR_NORM_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    return pr_ns_params_check(p, prior_var);
}

pr_status pr_norm_apply_s16_s8(const pr_norm_params *p, const int32_t *prior_mean,
                               const int32_t *prior_var, const uint8_t *state,
                               int32_t state_bytes, const int16_t *x, int32_t frames,
                               int8_t *y)
{
    pr_status st = pr_na_check(p, prior_mean, prior_var, x, frames, y);
    int64_t b;
    int32_t m, t;
    if (st != PR_OK) {
        return st;
    }
    st = pr_ns_check(state, state_bytes, p->bands);
    if (st != PR_OK) {
        return st;
    }
    b = pr_ns_blend_weight(pr_ns_word(state, PR_NS_N), p->prior_weight);   /* Q30 */
    for (m = 0; m < p->bands; ++m) {
        uint32_t inv;
        int32_t shift;
        const int32_t mean = pr_ns_band_coeffs(state, p->bands, m, prior_mean[m],
                                               prior_var[m], p->var_floor, b, &inv, &shift);
        for (t = 0; t < frames; ++t) {
            const int64_t i = (int64_t)t * p->bands + m;
            y[i] = pr_ns_normalize(x[i], mean, inv, shift, p->out_multiplier, p->out_shift,
                                   p->out_zero_point);
        }
    }
    return PR_OK;
}
