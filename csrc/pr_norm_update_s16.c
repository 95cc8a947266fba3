/*
 * pr_norm_update_s16: merge one heard utterance into the causal normalization state
 * (Chan et al.'s pairwise mean/variance update in fixed point). NumPy reference:
 * pyreparam.quant.qcausal.update; steps in reference/causal_norm.md.
 */
#include "pr_norm_internal.h"

pr_status pr_norm_update_s16(uint8_t *state, int32_t state_bytes, int32_t bands,
                             const int16_t *x, int32_t frames)
{
    const pr_status st = pr_ns_check(state, state_bytes, bands);
    uint32_t n, F;
    int64_t w;
    int32_t m, t;
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
    w = pr_ns_update_weight(pr_ns_word(state, PR_NS_FRAMES), frames, &F);   /* Q30 */
    for (m = 0; m < bands; ++m) {
        int64_t S1 = 0;
        int64_t S2 = 0;
        int64_t mu, vu;
        for (t = 0; t < frames; ++t) {
            const int64_t xv = x[(int64_t)t * bands + m];
            S1 += xv;
            S2 += xv * xv;
        }
        pr_ns_moments(S1, S2, frames, &mu, &vu);
        pr_ns_update_band(state, bands, m, n, w, mu, vu);
    }
    pr_ns_update_close(state, state_bytes, n, F);
    return PR_OK;
}
