/*
 * pr_norm_update_sums: merge an utterance given by its per-band sums into the causal
 * normalization state: the same update as pr_norm_update_s16 (which uses nothing of
 * the utterance but these sums), for callers that keep running sums instead of the
 * frames (the stream, pr_stream_push_s16). NumPy reference:
 * pyreparam.quant.qcausal.update_sums; steps in reference/causal_norm.md.
 */
#include "pr_norm_internal.h"

pr_status pr_norm_update_sums(uint8_t *state, int32_t state_bytes, int32_t bands,
                              const int64_t *sum, const int64_t *sum_sq, int32_t frames)
{
    const pr_status st = pr_ns_check(state, state_bytes, bands);
    const int64_t x_max = (int64_t)1 << 15;     /* |x| <= 2^15 for int16 features */
    uint32_t n, F;
    int64_t w;
    int32_t m;
    if (st != PR_OK) {
        return st;
    }
    if (sum == NULL || sum_sq == NULL) {
        return PR_ERR_NULL;
    }
    if (frames < 1 || frames > PR_NORM_MAX_FRAMES) {
        return PR_ERR_SHAPE;
    }
    for (m = 0; m < bands; ++m) {               /* sums that int16 frames can have */
        if (sum[m] < -x_max * frames || sum[m] > x_max * frames || sum_sq[m] < 0 ||
            sum_sq[m] > x_max * x_max * frames) {
            return PR_ERR_PARAM;
        }
    }
    n = pr_ns_word(state, PR_NS_N);
    w = pr_ns_update_weight(pr_ns_word(state, PR_NS_FRAMES), frames, &F);   /* Q30 */
    for (m = 0; m < bands; ++m) {
        int64_t mu, vu;
        pr_ns_moments(sum[m], sum_sq[m], frames, &mu, &vu);
        pr_ns_update_band(state, bands, m, n, w, mu, vu);
    }
    pr_ns_update_close(state, state_bytes, n, F);
    return PR_OK;
}
