/*
 * pr_norm_apply_s16_s8: normalize one utterance with the causal state blended with
 * the training prior and quantize it to the model's int8 input. NumPy reference:
 * pyreparam.quant.qcausal.apply; steps in reference/causal_norm.md.
 */
#include "pr_layernorm_internal.h"
#include "pr_norm_internal.h"

static pr_status pr_na_check(const pr_norm_params *p, const int32_t *prior_mean,
                             const int32_t *prior_var, const int16_t *x, int32_t frames,
                             const int8_t *y)
{
    int32_t m;
    if (p == NULL || prior_mean == NULL || prior_var == NULL || x == NULL || y == NULL) {
        return PR_ERR_NULL;
    }
    if (p->bands < 1 || p->bands > PR_NORM_MAX_BANDS || frames < 1 ||
        frames > PR_NORM_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    if (p->prior_weight < 1 || p->var_floor < 1 ||
        !pr_q_multiplier_ok(p->out_multiplier, p->out_shift) ||
        p->out_zero_point < -128 || p->out_zero_point > 127) {
        return PR_ERR_PARAM;
    }
    for (m = 0; m < p->bands; ++m) {
        if (prior_var[m] < 1) {
            return PR_ERR_PARAM;
        }
    }
    return PR_OK;
}

pr_status pr_norm_apply_s16_s8(const pr_norm_params *p, const int32_t *prior_mean,
                               const int32_t *prior_var, const uint8_t *state,
                               int32_t state_bytes, const int16_t *x, int32_t frames,
                               int8_t *y)
{
    pr_status st = pr_na_check(p, prior_mean, prior_var, x, frames, y);
    int64_t n, b;
    int32_t m, t;
    if (st != PR_OK) {
        return st;
    }
    st = pr_ns_check(state, state_bytes, p->bands);
    if (st != PR_OK) {
        return st;
    }
    n = pr_ns_word(state, PR_NS_N);
    /* b = n / (n + n0) in Q30 */
    b = pr_ns_rdiv(n << (PR_NORM_STAT_FRAC_BITS + PR_NORM_WEIGHT_BITS),
                   (n << PR_NORM_STAT_FRAC_BITS) + p->prior_weight);
    for (m = 0; m < p->bands; ++m) {
        const int64_t pm = prior_mean[m];
        const int64_t pv = prior_var[m];
        const int64_t mean =
            pm + pr_q_rdbp64((pr_ns_mean(state, p->bands, m) - pm) * b, PR_NORM_WEIGHT_BITS);
        int64_t V = pv + pr_q_rdbp64((pr_ns_var(state, p->bands, m) - pv) * b,
                                     PR_NORM_WEIGHT_BITS);
        int64_t inv;
        int32_t k = 0;
        V = V < p->var_floor ? p->var_floor : V;                   /* [1, 2^31) */
        inv = pr_ln_inv_sqrt(V, &k);                                /* 1/sqrt(V) ~ inv 2^(k-61) */
        for (t = 0; t < frames; ++t) {
            const int64_t i = (int64_t)t * p->bands + m;
            const int64_t xc = (int64_t)x[i] * ((int64_t)1 << PR_NORM_FEATURE_FRAC_BITS) - mean;
            const int32_t z = pr_q_clamp64(pr_q_rdbp64(xc * inv, 45 - k), PR_Q_INT32_MIN,
                                           PR_Q_INT32_MAX);          /* Q24 */
            y[i] = (int8_t)pr_q_requantize(z, p->out_multiplier, p->out_shift,
                                           p->out_zero_point, -128, 127);
        }
    }
    return PR_OK;
}
