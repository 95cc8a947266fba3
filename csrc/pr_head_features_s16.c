/*
 * pr_head_features_s16: the statistics head's input, the utterance functionals each
 * brought into int16 Q8 by its own power of two (pyreparam.quant.qhead.features); a
 * head with pitch appends the prosody block (pr_prosody_s16).
 */
#include "pr_head_internal.h"
#include "pr_q_internal.h"

pr_status pr_head_features_s16(const pr_head *head, const int16_t *x, int32_t frames,
                               int16_t *g, int32_t *scratch, int32_t scratch_len)
{
    const int32_t D = pr_head_check(head);
    int32_t need, j;
    pr_status st;
    if (D < 0) {
        return D;
    }
    if (x == NULL || g == NULL || scratch == NULL) {
        return PR_ERR_NULL;
    }
    need = pr_functionals_scratch_len(frames);      /* the head is checked already */
    if (need < 0) {
        return need;
    }
    need += D;
    if (scratch_len < need) {
        return PR_ERR_SCRATCH;
    }
    st = pr_functionals_s16(x, frames, head->channels, head->bands, head->dct,
                            head->cepstra, scratch, scratch + D, scratch_len - D);
    if (st == PR_OK && head->pitch) { /* the last PR_PROSODY_COUNT of the D values */
        st = pr_prosody_s16(x, frames, head->channels, head->bands,
                            scratch + D - PR_PROSODY_COUNT, scratch + D, scratch_len - D);
    }
    if (st != PR_OK) {
        return st;
    }
    for (j = 0; j < D; ++j) {
        const int32_t s = 8 + head->exponent[j];          /* -15 .. 31 */
        const int64_t f = scratch[j];
        const int64_t v = s >= 0 ? pr_q_rdbp64(f, s) : f * ((int64_t)1 << -s);
        g[j] = (int16_t)(v < -32768 ? -32768 : (v > 32767 ? 32767 : v));
    }
    return PR_OK;
}
