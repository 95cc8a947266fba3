/*
 * pr_prosody_s16: the statistics head's prosody block, bit-exact with
 * pyreparam/quant/qfunctionals.py (prosody_functionals_q; formulas there).
 *
 * Of the speech frames (pr_functionals_s16's), those whose voicing channel (bands + 1)
 * is at least PR_PROSODY_VOICED_Q8 are kept in time order (all speech frames when
 * fewer than PR_FUNC_MIN_SPEECH_FRAMES are voiced); the pitch channel (bands) of
 * those frames gives mean, std, 10/50/90th percentiles and the std of its change, and
 * the count gives the voiced share of the speech frames, all Q16. Bounds: int16
 * values over at most 2^14 frames, so every sum stays below 2^45.
 */
#include "pr_functionals_internal.h"

pr_status pr_prosody_s16(const int16_t *x, int32_t frames, int32_t channels, int32_t bands,
                         int32_t *out, int32_t *scratch, int32_t scratch_len)
{
    int32_t *idx, *col, *sorted, n_speech, n_voiced = 0, n, t;
    int64_t mean, std, change_mean, change_std = 0;
    if (x == NULL || out == NULL || scratch == NULL) {
        return PR_ERR_NULL;
    }
    if (frames < 1 || frames > PR_FUNC_MAX_FRAMES || channels > PR_FUNC_MAX_CHANNELS ||
        bands < 1 || bands > PR_FUNC_MAX_BANDS || channels < bands + 2) {
        return PR_ERR_SHAPE;
    }
    if (scratch_len < pr_functionals_scratch_len(frames)) {
        return PR_ERR_SCRATCH;
    }
    idx = scratch;
    col = scratch + frames;
    sorted = scratch + 2 * frames;
    n_speech = fn_speech(x, frames, channels, bands, idx, col);
    for (t = 0; t < n_speech; ++t) {
        n_voiced += x[(int64_t)idx[t] * channels + bands + 1] >= PR_PROSODY_VOICED_Q8;
    }
    n = n_speech;
    if (n_voiced >= PR_FUNC_MIN_SPEECH_FRAMES) { /* keep the voiced ones, in order */
        n = 0;
        for (t = 0; t < n_speech; ++t) {
            if (x[(int64_t)idx[t] * channels + bands + 1] >= PR_PROSODY_VOICED_Q8) {
                idx[n++] = idx[t];
            }
        }
    }
    for (t = 0; t < n; ++t) {
        col[t] = x[(int64_t)idx[t] * channels + bands];
        sorted[t] = col[t];
    }
    fn_mean_std(col, n, 0, &mean, &std);
    if (n > 1) {
        fn_mean_std(col, n, 1, &change_mean, &change_std);
    }
    fn_heapsort(sorted, n);
    out[0] = fn_sat32(mean);
    out[1] = fn_sat32(std);
    out[2] = fn_sat32(fn_percentile(sorted, n, 10));
    out[3] = fn_sat32(fn_percentile(sorted, n, 50));
    out[4] = fn_sat32(fn_percentile(sorted, n, 90));
    out[5] = fn_sat32(change_std);
    out[6] = fn_sat32(fn_rdiv((int64_t)n_voiced << 16, n_speech));
    return PR_OK;
}
