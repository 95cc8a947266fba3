/*
 * pr_norm_update_s16: merge one heard utterance into the causal normalization state
 * (Chan et al.'s pairwise mean/variance update in fixed point). NumPy reference:
 * pyreparam.quant.qcausal.update; steps in reference/causal_norm.md.
 */
#include "pr_norm_internal.h"

/* Mean (Q16) and variance (Q16) of band m of x (T, M), as qcausal.utterance_moments. */
static void pr_nu_moments(const int16_t *x, int32_t T, int32_t M, int32_t m, int64_t *mean,
                          int64_t *var)
{
    int64_t S1 = 0;
    int64_t S2 = 0;
    int64_t v;
    int32_t t;
    for (t = 0; t < T; ++t) {
        const int64_t xv = x[(int64_t)t * M + m];
        S1 += xv;
        S2 += xv * xv;
    }
    *mean = pr_ns_rdiv(S1 * ((int64_t)1 << PR_NORM_FEATURE_FRAC_BITS), T);
    v = pr_ns_rdiv(S2, T) - pr_q_rdbp64(*mean * *mean, PR_NORM_STAT_FRAC_BITS);
    *var = v < 0 ? 0 : v;                                            /* <= 2^30 */
}

pr_status pr_norm_update_s16(uint8_t *state, int32_t state_bytes, int32_t bands,
                             const int16_t *x, int32_t frames)
{
    const pr_status st = pr_ns_check(state, state_bytes, bands);
    const int64_t one = (int64_t)1 << PR_NORM_WEIGHT_BITS;
    uint32_t n, F;
    int64_t w = 0;
    int32_t m;
    if (st != PR_OK) {
        return st;
    }
    if (x == NULL) {
        return PR_ERR_NULL;
    }
    if (frames < 1 || frames > PR_NORM_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    n = pr_ns_word(state, PR_NS_N);
    F = pr_ns_word(state, PR_NS_FRAMES);
    if (F != 0) {
        const int64_t Fa = F < (uint32_t)PR_NORM_FRAME_CAP ? (int64_t)F : PR_NORM_FRAME_CAP;
        w = pr_ns_rdiv((int64_t)frames << PR_NORM_WEIGHT_BITS, Fa + frames); /* Q30 */
        F = (uint32_t)(Fa + frames);
    } else {
        F = (uint32_t)frames;
    }
    for (m = 0; m < bands; ++m) {
        int64_t mu, vu, mean, var;
        pr_nu_moments(x, frames, bands, m, &mu, &vu);
        if (n == 0) {
            mean = mu;
            var = vu;
        } else {
            const int64_t ma = pr_ns_mean(state, bands, m);
            const int64_t va = pr_ns_var(state, bands, m);
            const int64_t d = mu - ma;                                 /* |d| <= 2^24 */
            const int64_t dd = pr_q_rdbp64(d * d, PR_NORM_STAT_FRAC_BITS); /* <= 2^32 */
            const int64_t spread = pr_q_rdbp64(
                pr_q_rdbp64(dd * w, PR_NORM_WEIGHT_BITS) * (one - w), PR_NORM_WEIGHT_BITS);
            mean = ma + pr_q_rdbp64(d * w, PR_NORM_WEIGHT_BITS);
            var = va + pr_q_rdbp64((vu - va) * w, PR_NORM_WEIGHT_BITS) + spread;
        }
        /* the mean is a convex combination of means (|.| <= 2^23); the variance can
         * exceed 2^30 only by the spread term, and is clamped like the reference's */
        pr_ns_put_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * m, (int32_t)mean);
        pr_ns_put_i32(state + PR_NORM_STATE_HEADER_BYTES + 4 * (bands + m),
                      pr_q_clamp64(var, 0, PR_NORM_MAX_VAR));
    }
    pr_ns_put_u32(state + 4 * PR_NS_N, n < PR_NORM_MAX_UTTERANCES ? n + 1 : n);
    pr_ns_put_u32(state + 4 * PR_NS_FRAMES, F);
    pr_ns_seal(state, state_bytes);
    return PR_OK;
}
